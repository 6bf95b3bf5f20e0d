"""Mounts the stack's S3 bucket at the mount dir, for the sandbox and for the backend host alike.

The contract it keeps (README, "The shared bucket's contract"):
- durable at close: when close() or fsync() on a file under the mount returns success, the bucket
  holds exactly the bytes written, and losing the client right after loses nothing;
- failure is loud: an upload that cannot complete fails close()/fsync() with an error, and the
  status file says why;
- fresh: a change made through the S3 API or another mount is seen by name, in listings and by
  content within S3_MOUNT_FRESHNESS_SECONDS.

Standard library only, shipped as one executable zipapp (`python3 s3mount COMMAND`): it runs in
the sandbox image and on any backend host without a virtualenv. The secret reaches s3fs through
its environment only: never argv, the log or the status file. `s3mount --help` lists the commands
and the settings each reads.
"""
