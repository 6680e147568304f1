"""The MAX channel (SPEC section 10): MAX updates into the desk (`updates`, `transport`), owed notices out
(`channel`). Imported only when `MAX_BOT_TOKEN` is set: `maxapi` is loaded by nothing else."""
