"""The command-line face.

Owns ``openretina-data`` (list, info, plugins, demo, download, verify, cache) and the demo.

Imports: ``openretina_core.data``, ``openretina_core.files`` and ``openretina_core.registry`` (a face: nothing in
the core imports it). Commands import their heavy modules inside the command, so ``--help``, ``list`` and
``info`` start without torch or h5py.
"""

from openretina_core.cli.commands import main

__all__ = ["main"]
