"""The transfer layer: how bytes come from a server into a partial file, verified.

Layers, each importing only those below it (tests/test_architecture.py checks the graph):

    registry/fetch.py          the store's hand-off: which files, what vouches for them, into the store
    registry/download.py       one file: a stream, or pieces when one stream is slow; the storage checksum
    transfer/stream.py         one streaming GET, resumed with Range, hashed in flight
    transfer/pieces.py         a file in pieces on several connections, resumed piece by piece
    transfer/remote_object.py  what the server says of the object: validator (If-Range), crc32c
    transfer/http.py           origins, the pool, redirects within an origin, statuses, the body, disk writes
"""
