"""The real pages in headless Chromium: an admin edits a media stream's initial reply and a
web-chat customer receives it; an agent signs in, goes ready, accepts an offer and replies,
and the customer sees the reply; the queue dashboard follows along without a reload."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import PASSWORD, screenshot

TIMEOUT = 15_000  # ms; the dashboard polls every 2 s


async def admin_page(browser: Browser, base_url: str, *, shoot: bool = False) -> Page:
    """A signed-in admin console (tenant admin ``root``) on the queue dashboard."""
    page = await (await browser.new_context(viewport={"width": 1100, "height": 760})).new_page()
    await page.goto(base_url + "/admin")
    await expect(page.get_by_test_id("login-form")).to_be_visible()
    await page.fill("#tenant", "acme")
    await page.fill("#username", "root")
    await page.fill("#password", PASSWORD)
    if shoot:
        await screenshot(page, "admin-login")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_test_id("queue-table")).to_be_visible()
    return page


async def customer_page(browser: Browser, base_url: str) -> Page:
    page = await (await browser.new_context(viewport={"width": 720, "height": 760})).new_page()
    await page.goto(base_url + "/chat/acme/web")
    await expect(page.get_by_test_id("chat-status")).to_have_attribute("data-status", "online")
    return page


async def say(page: Page, text: str, name: str | None = None) -> None:
    if name:
        await page.locator("#chat-about summary").click()
        await page.get_by_test_id("chat-name").fill(name)
    await page.get_by_test_id("chat-input").fill(text)
    await page.get_by_test_id("chat-send").click()


def cell(page: Page, field: str) -> object:
    return page.get_by_test_id(f"queue-support-{field}")


async def test_admin_edits_the_initial_reply_and_a_customer_receives_it(
    browser: Browser, base_url: str
) -> None:
    admin = await admin_page(browser, base_url, shoot=True)
    await admin.get_by_test_id("nav-media-streams").click()
    await expect(admin.get_by_test_id("media-streams")).to_be_visible()
    await admin.get_by_test_id("edit-web").click()

    template = admin.locator("#f-initial_reply")
    await template.fill("Welcome {{ customer.name or 'friend' }}! {{ stream.name }} is here.")
    # The live preview renders the typed template with the sample customer, before saving.
    preview = admin.get_by_test_id("preview-initial_reply")
    await expect(preview).to_contain_text("Welcome Jane Doe! Acme is here.")
    # A broken template shows its error next to the field, live.
    await admin.locator("#f-after_hours_reply").fill("{% if %}")
    await expect(admin.get_by_test_id("error-after_hours_reply")).to_contain_text(
        "invalid template"
    )
    await admin.locator("#f-after_hours_reply").fill("")
    await expect(admin.get_by_test_id("error-after_hours_reply")).to_be_hidden()
    await screenshot(admin, "media-stream-form")
    await admin.get_by_test_id("save").click()
    await expect(admin.get_by_test_id("notice")).to_have_text("Saved.")

    customer = await customer_page(browser, base_url)
    await say(customer, "Hello, is anyone there?", name="Dana")
    system = customer.locator('[data-testid="chat-message"][data-sender-kind="system"]')
    await expect(system).to_contain_text("Welcome Dana! Acme is here.")
    await screenshot(customer, "chat")


async def test_agent_answers_a_customer_while_the_dashboard_follows(
    browser: Browser, base_url: str
) -> None:
    dashboard = await admin_page(browser, base_url)
    await expect(dashboard.get_by_test_id("queue-support-logged_on_agents")).to_have_text("0")
    await expect(dashboard.get_by_test_id("queue-support-queue_length")).to_have_text("0")

    agent = await (await browser.new_context(viewport={"width": 1100, "height": 760})).new_page()
    await agent.goto(base_url + "/agent")
    await agent.get_by_test_id("login-tenant").fill("acme")
    await agent.get_by_test_id("login-username").fill("ann")
    await agent.get_by_test_id("login-password").fill(PASSWORD)
    await agent.get_by_test_id("login-submit").click()
    await expect(agent.get_by_test_id("desktop-view")).to_be_visible()
    await expect(dashboard.get_by_test_id("queue-support-logged_on_agents")).to_have_text(
        "1", timeout=TIMEOUT
    )

    # The customer writes while nobody is ready: the dashboard shows one waiting.
    customer = await customer_page(browser, base_url)
    await say(customer, "My order has not arrived")
    await expect(dashboard.get_by_test_id("queue-support-queue_length")).to_have_text(
        "1", timeout=TIMEOUT
    )

    await agent.get_by_test_id("state-ready").click()
    offer = agent.get_by_test_id("offer")
    await expect(offer).to_be_visible()
    await expect(offer).to_contain_text("My order has not arrived")
    await agent.get_by_test_id("offer-accept").click()
    conversation = agent.get_by_test_id("conversation")
    await expect(conversation).to_contain_text("My order has not arrived")
    await conversation.get_by_test_id("reply-input").fill("Sorry about that, checking now.")
    await conversation.get_by_test_id("reply-send").click()
    await screenshot(agent, "agent-desktop")

    reply = customer.locator('[data-testid="chat-message"][data-sender-kind="agent"]')
    await expect(reply).to_contain_text("Sorry about that, checking now.")
    await expect(dashboard.get_by_test_id("queue-support-queue_length")).to_have_text(
        "0", timeout=TIMEOUT
    )
    await expect(dashboard.get_by_test_id("queue-support-working_agents")).to_have_text(
        "1", timeout=TIMEOUT
    )
    await screenshot(dashboard, "dashboard")
