"""The bottom layer: small, dependency-free helpers every other layer may use.

It imports nothing else from `ticket_assets` (only the standard library, and lingua inside
`detection.py`'s functions), so `config/` and everything above can build on it.

    languages.py  LANGUAGES: the one registry of languages (code, name, id digit, detector)
    detection.py  which language a text is in (lingua, offline; detectors built lazily, once)
    ids.py        ticket ids from (dataset, language, batch, row)
    randomness.py stable_rng: seeded from its inputs, the same in every process
    files.py      atomic_write (temp file + rename)
    run_lock.py   one CLI run per data directory at a time
    run_logs.py   where the CLI's stack traces go
"""
