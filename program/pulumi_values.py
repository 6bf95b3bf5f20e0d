"""The shared values as Pulumi outputs: what one consumer receives on one channel.

Only the values a channel needs are awaited, so the bucket's settings never inherit the key's
secrecy (an output computed from a secret is a secret).
"""

from __future__ import annotations

from typing import Any

import pulumi

from program.shared import Channel, Consumer, checked, delivered


def delivered_output(
    consumer: Consumer, channel: Channel, *shared: Any
) -> pulumi.Output[dict[str, str]]:
    """{variable: value} for `consumer` on `channel`, resolved and checked."""
    needed = delivered(consumer, channel, *shared)
    return pulumi.Output.all(**needed).apply(checked)
