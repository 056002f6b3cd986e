"""Ray as the distributed engine (extra `cluster`): shard builds as Ray tasks, traces with one
actor per shard. Only `--engine ray` imports this package's module; the core never imports ray,
and importing the package itself does not either (its names load on first use)."""

from factroots._lazy import lazy_exports

_EXPORTS = {
    "ray_session": "factroots.cluster.ray_engine",
    "build_shards_ray": "factroots.cluster.ray_engine",
    "open_ray_index": "factroots.cluster.ray_engine",
    "RayShardedIndex": "factroots.cluster.ray_engine",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
