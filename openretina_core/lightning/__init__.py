"""The Lightning face: any dataset of the registry (or a lab's own ``BaseDataLoader``) as a
``LightningDataModule``.

Owns ``RetinaDataModule`` (``datamodule.py``): ``prepare_data`` downloads and prepares once per node, ``setup``
builds the loaders on every process (sharded across DDP ranks by the loaders' own samplers), training runs
through ``LongCycler``, validation and test through ``ShortCycler``, batches reach the device through the
``move_batch`` hook in ``transfer_batch_to_device``, and the training position is saved in checkpoints, so a
preempted job resumes mid-epoch. Needs Lightning: ``pip install "openretina-core[lightning]"``; importing this
package does not import it (only using ``RetinaDataModule`` does).

Imports: ``openretina_core.data``, ``openretina_core.store`` and ``openretina_core.registry`` (a face: nothing
in the core imports it). Users import from this module: ``from openretina_core.lightning import
RetinaDataModule``.
"""

from typing import TYPE_CHECKING

from openretina_core.registry.lazy import lazy_exports

if TYPE_CHECKING:
    from openretina_core.lightning.datamodule import RetinaDataModule

_EXPORTS = {"RetinaDataModule": ".datamodule"}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = ["RetinaDataModule"]
