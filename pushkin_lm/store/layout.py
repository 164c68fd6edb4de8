"""The names of the files pushkin-lm writes, in one place: what a checkpoint folder and a run folder hold.

    checkpoint folder            run folder (--out)
    ├── config.json              ├── best/     a checkpoint folder: the best validation so far
    ├── model.safetensors        ├── last/     a checkpoint folder, with the trainer state:
    └── README.md (model card)   │   ├── trainer.safetensors
                                 │   └── trainer.json
                                 ├── log.jsonl one line per evaluation
                                 ├── curves.png
                                 └── .lock

No torch here, so that the command line can name these files in `--help`.
"""

CONFIG_FILE = "config.json"  # format tag and version, the network's sizes, vocabulary, metadata
WEIGHTS_FILE = "model.safetensors"  # the weights and the calibration temperature
CARD_FILE = "README.md"  # the model card (publish/card.py): a checkpoint folder is a Hub model repo
CHECKPOINT_FILES = [CONFIG_FILE, WEIGHTS_FILE, CARD_FILE]  # what a Hub download fetches

BEST, LAST = "best", "last"
STATE_TENSORS, STATE_INFO = "trainer.safetensors", "trainer.json"  # in last/: what exact resume needs
LOG_FILE = "log.jsonl"
CURVES_FILE = "curves.png"  # the picture of the run's curves, drawn when training ends and by `plot`
LOCK_FILE = ".lock"
