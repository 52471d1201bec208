def absolute_file_url(file, request=None) -> str | None:
    """An absolute URL for a stored file, or None when there is none.

    S3 URLs are already absolute (presigned or on the custom domain); local media URLs are
    made absolute against the request's host."""
    if not file:
        return None
    url = file.url
    if url.startswith(("http://", "https://")) or request is None:
        return url
    return request.build_absolute_uri(url)
