"""The stack's shared values as Pulumi outputs: what one consumer receives on one channel.

Only the outputs a channel needs are awaited, so the bucket's settings never inherit the key's
secrecy (an output computed from a secret is a secret).
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from components.contract import Channel, Consumer, values, variables


def channel_values(
    consumer: Consumer, channel: Channel, outputs: Mapping[str, pulumi.Input[str]]
) -> pulumi.Output[dict[str, str]]:
    """{variable: value} for `consumer` on `channel`, from the stack outputs by name."""
    needed = {v.output: outputs[v.output] for v in variables(consumer, channel)}
    return pulumi.Output.all(**needed).apply(lambda resolved: values(consumer, channel, resolved))
