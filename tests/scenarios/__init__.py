"""Reliability and security scenarios, a module per class: each runs the real zoo against local hubs
and returns figures.

tests/test_reliability.py and tests/test_trust.py assert on them; benchmarks/reliability.py prints
them as a table. Every scenario works in a directory it is given and sets its own ZOO_HOME there.

- world.py: the hubs, the manifest and the zoo runner every scenario starts from
- transfers.py: crash and resume, corruption and repair, concurrency
- hostile.py: hostile servers, a full disk, secrets, a hub that answers garbage
- trust.py: trust, class by class (local and community plugins, URL confusion, shadowing)
- trust_round3.py: Kaggle bit flips, files replaced midway, orphans, damaged caches, links, signatures
"""
