"""Per-sandbox storage, the backend's side: right after `Sandbox.create()`, `attach` gives one
sandbox its own prefix of the bucket, with short-lived credentials limited to it, mounted by the
sandbox's mount program as root; `detach` takes it away.

Standard library and boto3 (for STS, imported when credentials are issued): it takes any object
shaped like e2b's `Sandbox` (`sandbox_id`, `files.write`, `commands.run`), so importing it needs
no E2B SDK. Shipped to the backend as one zipapp (sandbox_storage.pyz) in its bundle.
"""
