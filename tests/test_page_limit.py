"""social.db.page_limit: a page statement's LIMIT is written into its text when the page is
drawn from the whole table, bound when it is drawn from one owner's rows (its docstring says
why; the plan tests of the feed and of the notifications page hold the consequences)."""

import uuid

from notifications import selectors as notification_selectors
from posts import selectors as post_selectors
from social.db import page_limit
from social.pagination import PageRequest

PAGE = PageRequest(limit=20, after=None)


def test_a_whole_tables_limit_is_written_and_binds_nothing():
    assert page_limit(rows=21, whole_table=True) == ("LIMIT 21", {})


def test_an_owners_limit_is_bound():
    assert page_limit(rows=21, whole_table=False) == ("LIMIT %(limit)s", {"limit": 21})


def test_the_feed_writes_its_limit_and_the_owners_pages_bind_theirs():
    viewer = uuid.uuid4()
    feed, feed_params = post_selectors.refs_query(viewer_id=viewer, page=PAGE)
    notifications, notification_params = notification_selectors._page_statement(
        user_id=viewer, unread_only=False, page=PAGE, checked=True
    )
    comments, comment_params = post_selectors._comments_statement(post_id=uuid.uuid4(), page=PAGE, checked=True)

    assert "LIMIT 21" in feed and "limit" not in feed_params
    for sql, params in ((notifications, notification_params), (comments, comment_params)):
        assert "LIMIT %(limit)s" in sql and params["limit"] == 21


def test_one_text_per_shape_when_bound_and_per_value_when_written():
    viewer = uuid.uuid4()
    small, large = PageRequest(limit=5, after=None), PageRequest(limit=50, after=None)

    assert (
        post_selectors.refs_query(viewer_id=viewer, page=small)[0]
        != post_selectors.refs_query(viewer_id=viewer, page=large)[0]
    )
    assert (
        notification_selectors._page_statement(user_id=viewer, unread_only=True, page=small, checked=False)[0]
        is notification_selectors._page_statement(user_id=viewer, unread_only=True, page=large, checked=False)[0]
    )
