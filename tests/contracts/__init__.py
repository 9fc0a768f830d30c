"""Contracts shared by the tests of several implementations; their asserts are rewritten for
readable failures whichever test module imports them first."""

import pytest

pytest.register_assert_rewrite(
    "tests.contracts.broker",
    "tests.contracts.hand_over",
    "tests.contracts.session_search",
    "tests.contracts.store",
)
