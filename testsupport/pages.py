"""Reading paginated answers in tests."""

import re

LINK = re.compile(r'<(.+)>; rel="next"')


def next_url(response) -> str | None:
    """The next page's URL from the `Link` header, or None on the last page (a malformed
    header fails the test)."""
    header = response.get("Link")
    if header is None:
        return None
    match = LINK.fullmatch(header)
    assert match, header
    return match.group(1)
