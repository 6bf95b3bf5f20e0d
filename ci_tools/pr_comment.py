"""Post a checked preview on its pull request: exactly the text the secret guard read.

    python3 -m ci_tools.pr_comment --stack dev --preview preview-dev.txt

CI saves `pulumi preview --diff` once, runs `ci_tools.preview_guard` on that file,
and posts that same file with this tool; a second preview run could print something the guard
never saw. One comment per stack, found by a marker and edited in place on later pushes.
Reads GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL and the pull request number from the
event (GITHUB_EVENT_PATH), as a GitHub Actions step provides them.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from program.output_reader import tool_parser

# GitHub refuses a comment body over 65,536 characters.
BODY_MAX = 65_000


class CommentError(Exception):
    """What went wrong, and what to do about it."""


def marker(stack: str) -> str:
    return f"<!-- e2b-sandbox preview: {stack} -->"


def render(stack: str, preview: str) -> str:
    """The comment: a marker, a title and the preview as it was checked, in a code block."""
    fence = "````"  # longer than any fence a diff could hold
    head = f"{marker(stack)}\n### `pulumi preview --diff` of stack `{stack}`\n\n{fence}diff\n"
    tail = f"\n{fence}\n"
    room = BODY_MAX - len(head) - len(tail) - 100
    if len(preview) > room:
        preview = preview[:room] + "\n... (cut: the whole preview is in the job's log)"
    return head + preview.rstrip("\n") + tail


class GitHub:
    def __init__(self, api: str, repository: str, token: str) -> None:
        self.api, self.repository, self.token = api.rstrip("/"), repository, token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        # GITHUB_API_URL is https (github.com or an Enterprise server), set by the runner.
        request = urllib.request.Request(  # noqa: S310
            f"{self.api}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/vnd.github+json",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise CommentError(
                f"GitHub answered {error.code} to {method} {path}: give the job "
                "`pull-requests: write`"
            ) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", None) or error
            raise CommentError(
                f"cannot reach GitHub at {self.api}: {reason}. Check GITHUB_API_URL and the "
                "runner's network"
            ) from None
        except ValueError:
            raise CommentError(
                f"GitHub's answer to {method} {path} is not JSON: check GITHUB_API_URL"
            ) from None

    def upsert(self, number: int, stack: str, body: str) -> str:
        """Edits this stack's comment on the pull request, or creates it."""
        comments = self.call(
            "GET", f"/repos/{self.repository}/issues/{number}/comments?per_page=100"
        )
        if not isinstance(comments, list):
            raise CommentError(
                f"GitHub's list of comments on #{number} is not a list: check GITHUB_API_URL"
            )
        for comment in comments:
            if str(comment.get("body", "")).startswith(marker(stack)):
                self.call(
                    "PATCH",
                    f"/repos/{self.repository}/issues/comments/{comment['id']}",
                    {"body": body},
                )
                return f"updated the preview comment of stack {stack}"
        self.call("POST", f"/repos/{self.repository}/issues/{number}/comments", {"body": body})
        return f"posted the preview comment of stack {stack}"


def pull_request_number(event_path: str | None) -> int:
    try:
        event = json.loads(Path(event_path or "").read_text(encoding="utf-8"))
        return int(event["pull_request"]["number"])
    except (OSError, ValueError, KeyError, TypeError):
        raise CommentError(
            "no pull request in GITHUB_EVENT_PATH: run this in a pull_request workflow"
        ) from None


def main(argv: list[str] | None = None) -> int:
    parser = tool_parser("ci_tools.pr_comment", __doc__)
    parser.add_argument("--stack", required=True, help="the Pulumi stack, e.g. dev")
    parser.add_argument(
        "--preview", required=True, type=Path, metavar="FILE", help="the checked preview file"
    )
    args = parser.parse_args(argv)
    try:
        preview = args.preview.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        print(
            f"error: cannot read the preview {args.preview}: {error.strerror}. Pass the file "
            "`pulumi preview --diff` wrote and `ci_tools.preview_guard` checked",
            file=sys.stderr,
        )
        return 1
    try:
        token = os.environ.get("GITHUB_TOKEN", "")
        repository = os.environ.get("GITHUB_REPOSITORY", "")
        if not token or not repository:
            raise CommentError("GITHUB_TOKEN and GITHUB_REPOSITORY must be set (a GitHub step)")
        github = GitHub(
            os.environ.get("GITHUB_API_URL", "https://api.github.com"), repository, token
        )
        number = pull_request_number(os.environ.get("GITHUB_EVENT_PATH"))
        print(github.upsert(number, args.stack, render(args.stack, preview)))
    except CommentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
