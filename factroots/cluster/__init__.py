"""Ray as the distributed engine (extra `cluster`): shard builds as Ray tasks, traces with one
actor per shard. Only `--engine ray` imports this package; the core never imports ray."""
