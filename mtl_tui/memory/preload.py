"""The embedding model loading in the background from the moment a face knows it will embed
(before it imports its own libraries, opens the pool or paints), so the first query does not
wait for it. Only a model that is ready to load is preloaded: a first-time preparation runs
where the face shows its progress, never in a thread the process may abandon."""

from __future__ import annotations

import atexit
import contextlib
import threading

from mtl_tui.memory.embed import (
    DefaultModelEmbedder,
    Notify,
    SentenceTransformerEmbedder,
    make_embedder,
    prepared_is_current,
)

_JOIN_AT_EXIT_S = 30.0
_lock = threading.Lock()
_started: dict[str, _Preload] = {}


class _Preload:
    def __init__(self, name: str) -> None:
        self.embedder = DefaultModelEmbedder(name, self._notice)
        self._lock = threading.Lock()
        self._held: list[str] = []
        self._notify: Notify | None = None
        self._thread = threading.Thread(target=self._load, name="mtl-embedder", daemon=True)
        self._thread.start()
        # A process that ends (an error, a refusal) while ONNX Runtime is still building its
        # session in this thread would abort in native code at teardown ("terminate called
        # without an active exception", exit 134): let the load finish first.
        atexit.register(self._thread.join, _JOIN_AT_EXIT_S)

    def _load(self) -> None:
        with contextlib.suppress(Exception):  # the face's own load() repeats and reports it
            self.embedder.load()

    def _notice(self, message: str) -> None:
        with self._lock:
            if self._notify is None:
                self._held.append(message)
                return
            notify = self._notify
        notify(message)

    def attach(self, notify: Notify | None) -> None:
        """Notices go to `notify` from now on, the ones held so far first."""
        with self._lock:
            held, self._held = self._held, []
            self._notify = notify or (lambda message: None)
        for message in held:
            self._notify(message)


def start(name: str) -> None:
    """Begin loading the embedder for `name` in a daemon thread (at most once a process),
    if it is the default model and its prepared copy is current; otherwise do nothing."""
    with _lock:
        if name in _started:
            return
        try:
            if not prepared_is_current(name):
                return
        except Exception:  # whatever is wrong, the face's own load reports it
            return
        _started[name] = _Preload(name)


def embedder_for(
    name: str, notify: Notify | None = None
) -> DefaultModelEmbedder | SentenceTransformerEmbedder:
    """The preloaded embedder for `name` (its `load()` waits for the thread), or a new one."""
    with _lock:
        preload = _started.get(name)
    if preload is None:
        return make_embedder(name, notify)
    preload.attach(notify)
    return preload.embedder
