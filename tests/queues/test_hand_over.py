"""Handing a single-active queue over to the next consumer, on both brokers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from queues import InMemoryBroker, RabbitBroker
from tests.contracts.hand_over import HandOverContract

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.contracts.broker import AdminBroker


class TestInMemoryHandOver(HandOverContract):
    @pytest.fixture
    def make_broker(self) -> Callable[[], AdminBroker]:
        return InMemoryBroker


@pytest.mark.rabbitmq
class TestRabbitHandOver(HandOverContract):
    @pytest.fixture
    def make_broker(self, rabbitmq_url: str) -> Callable[[], AdminBroker]:
        return lambda: RabbitBroker(rabbitmq_url)
