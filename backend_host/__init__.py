"""The backend's host: the files it receives from the stack (their names and how they are
rendered), the tool that writes them, and the by-hand mount of the bucket.

The host's tools (bundle, host_mount) are standard library only: they run with the host's own
python3, under sudo, without a virtualenv. render.py (PyYAML) runs inside the Pulumi program.
"""
