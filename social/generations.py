"""A bounded map for per-process memos that are read far more than written (presigned URLs,
posts' likers' encodings): no lock, no order kept per read.

It holds at most `limit` keys in two generations. Writes go to the recent one; when it holds
half the limit it becomes the older one and the older is dropped. A key read from the older
is copied into the recent, so the keys in use survive a swap, where clearing a full map at
once made every key of the next requests a miss again (issue #26). Threads may race on a key:
at worst both compute it and one value is kept, which callers must find harmless."""


class TwoGenerations:
    __slots__ = ("half", "recent", "older")

    def __init__(self, limit: int):
        self.half = max(limit // 2, 1)
        self.recent: dict = {}
        self.older: dict = {}

    def get(self, key):
        """The value of `key`, or None."""
        value = self.recent.get(key)
        if value is None:
            value = self.older.get(key)
            if value is not None:
                self.put(key, value)
        return value

    def put(self, key, value) -> None:
        if len(self.recent) >= self.half:
            self.older, self.recent = self.recent, {}
        self.recent[key] = value

    def clear(self) -> None:
        self.recent, self.older = {}, {}

    def __len__(self) -> int:
        return len(self.recent) + len(self.older)
