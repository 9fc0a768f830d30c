"""Every broker queue name, in one place."""

from __future__ import annotations

import zlib


def inbound(partition: int) -> str:
    """Inbound messages, ordered per session (single active consumer per partition)."""
    return f"sb.in.{partition}"


def outbound(partition: int) -> str:
    """Outbound sends, ordered per session."""
    return f"sb.out.{partition}"


def waiting(tenant: str, queue: str) -> str:
    """A routing queue's waiting line: conversations waiting for an agent, by priority."""
    return f"sb.wait.{tenant}.{queue}"


def node(node_id: str) -> str:
    """Frames for the agent and customer sockets held by one process."""
    return f"sb.node.{node_id}"


def partition_of(key: str, partitions: int) -> int:
    """Stable across processes (unlike ``hash()``)."""
    return zlib.crc32(key.encode()) % partitions
