"""Random ids drawn in bulk from the OS (``router.ids``): each one fresh, never repeated,
not even across a fork."""

from __future__ import annotations

import os
import re

from router import ids
from router.ids import new_id

HEX32 = re.compile(r"[0-9a-f]{32}")


def test_ids_are_32_hex_digits_and_never_repeat_across_draws() -> None:
    made = [new_id() for _ in range(3 * ids._DRAW // 16 + 7)]  # several draws' worth
    assert all(HEX32.fullmatch(i) for i in made)
    assert len(set(made)) == len(made)


def test_a_forked_child_does_not_make_its_parents_next_id() -> None:
    new_id()  # the parent has ids drawn and waiting
    assert ids._ids, "the parent should hold drawn ids"
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its first id and leave at once
        try:
            os.write(write, new_id().encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        child_first = os.read(read, 64).decode()
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    parent_next = new_id()
    assert HEX32.fullmatch(child_first)
    assert child_first != parent_next
