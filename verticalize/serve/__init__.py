"""Talk to a trained model: the engine of ``verticalize chat`` and ``verticalize serve``.

```python
from verticalize.serve import load_chat_model, create_app, start_server
cm = load_chat_model("runs/fin")                 # a run dir or an export dir
for delta in cm.stream([{"role": "user", "content": "What is EBITDA?"}]):
    print(delta, end="", flush=True)
with start_server(create_app(cm)) as server:      # OpenAI-compatible, on 127.0.0.1, a free port
    print(server.url)                             # http://127.0.0.1:PORT/v1
```

Importing this package is light; torch loads with the model, fastapi / uvicorn (the ``serve``
extra: ``pip install 'verticalize[serve]'``) with the app.
"""

from verticalize.serve._app import Limits, ServerHandle, bind, create_app, require_serve_deps, run_server, start_server
from verticalize.serve._model import ChatModel, PromptError, load_chat_model

__all__ = ["ChatModel", "Limits", "PromptError", "ServerHandle", "bind", "create_app", "load_chat_model",
           "require_serve_deps", "run_server", "start_server"]
