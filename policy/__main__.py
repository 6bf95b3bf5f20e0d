"""The policy pack, as the Pulumi CLI runs it: `pulumi preview --policy-pack policy`.

The CLI starts this file with the pack's folder as the import root (and the interpreter named in
PulumiPolicy.yaml); PolicyPack then serves the policies to the engine until it is stopped.
"""

from guard import pack, wire
from pulumi_policy import PolicyPack

wire.keep_secret_markers()
PolicyPack(name=pack.PACK_NAME, policies=pack.policies())
