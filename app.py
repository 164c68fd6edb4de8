"""The Hugging Face Space: the `pushkin-lm demo` page, serving the shipped model.

    python app.py        # locally: http://127.0.0.1:7860

Set the PUSHKIN_LM_CHECKPOINT variable (a checkpoint folder or a Hub model owner/name) to serve
another model. A Space sets GRADIO_SERVER_NAME=0.0.0.0 itself, which `launch` reads.
"""

import os

from pushkin_lm.demo.server import build_demo

demo = build_demo(os.environ.get("PUSHKIN_LM_CHECKPOINT") or None)

if __name__ == "__main__":
    demo.launch()
