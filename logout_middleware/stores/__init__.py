"""Where revoked sessions are kept, so that every request can be checked against them.

* :class:`~.memory.MemoryStore` (``memory://``): one process;
* :class:`~.sqlite.SQLiteStore` (``sqlite:///path.db``, and the default, see
  :func:`~.opening.default_store_path`): the processes of one machine;
* :class:`~.redis.RedisStore` (``redis://``, ``rediss://``, ``redis+sentinel://``):
  several machines;
* anything with the methods of :class:`~.base.RevocationStore`.

:func:`~.opening.open_store` opens one from a URL; the drivers open theirs
through a :class:`~.opening.ProcessLocalStore`, in the process that first uses it.
"""

from .base import DEFAULT_MAX_TOKEN_LIFETIME, RevocationStore, StoreStatus
from .memory import MemoryStore
from .opening import ProcessLocalStore, default_store_path, open_store, store_opener
from .sqlite import SQLiteStore

__all__ = [
    "DEFAULT_MAX_TOKEN_LIFETIME",
    "MemoryStore",
    "ProcessLocalStore",
    "RevocationStore",
    "SQLiteStore",
    "StoreStatus",
    "default_store_path",
    "open_store",
    "store_opener",
]
