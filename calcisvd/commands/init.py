"""`calcisvd init`: create a calcisvd home (its folders and the pseudonym key)."""

from __future__ import annotations

import argparse

from calcisvd.settings import Settings

HELP = "create a new home: its folders and the pseudonym key"
DESCRIPTION = """\
Create the home folder (--home, CALCISVD_HOME, default: the repository root) with its layout:

  drop/ drop/clinical/   where hospital exports and clinical CSV files arrive
  bids_dataset/          the de-identified BIDS dataset
  quarantine/ reports/ var/
  secrets/pseudonym.key  the HMAC key of subject pseudonyms (mode 0600): back it up and keep
                         it apart; the same key must be used by every later ingest

Every other command refuses a home that does not exist (a mistyped --home would otherwise
start an empty second installation); `calcisvd simulate` creates its home as init does.
Running init on an existing home adds what is missing and changes nothing else.

example:
  calcisvd init --home /data/calcisvd
"""

#: this command may be given a home that does not exist yet
CREATES_HOME = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`calcisvd init` has only the common options."""


def init_home(settings: Settings) -> list[str]:
    """Create the layout and the pseudonym key under ``settings.home``; return what was new."""
    from calcisvd.settings import HOME_LAYOUT
    from tasks.ingest.pipeline import load_identity

    created = []
    for rel in ("", *HOME_LAYOUT):
        path = settings.home / rel
        if not path.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            created.append(str(path))
    settings.secrets_dir.chmod(0o700)
    key = settings.pseudonym_key_path
    if not key.is_file():
        # refused for a dataset with subjects: restore, don't recreate
        load_identity(settings.ingest_config())
        created.append(str(key))
    return created


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Create the home; print what was created."""
    created = init_home(settings)
    print(f"calcisvd home: {settings.home}")
    for path in created:
        print(f"  created {path}")
    if not created:
        print("  already complete; nothing changed")
    return 0
