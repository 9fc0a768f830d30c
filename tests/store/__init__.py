"""Store tests; the shared contract's asserts are rewritten for readable failures."""

import pytest

pytest.register_assert_rewrite("tests.contracts.store")
