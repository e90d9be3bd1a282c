"""A lock around set_adapter + generate instead of the reference's batching worker, written from the stub.

One ``threading.Lock`` is held from ``set_adapter`` to the end of ``generate``, so generations run one at a
time, each with its own adapter; no queue, no batching, no streaming or metrics (both optional: left as
the stub has them). The API uses plain ``str``/``int`` pydantic fields and terse error messages. Full
marks show that the checks accept the simpler of the two designs the docstring allows. ``PATCH`` fills the
stub's TODOs (``BASE = "release"``): the docstrings and signatures are the release's, not a copy.
"""

ALTERNATE_FOR = "service"
BASE = "release"
PATCH = [
    ("        raise NotImplementedError('TODO: check the characters, wrap the model with the first adapter, load the others, make a lock')\n",
     """\
        if not characters:
            raise ValueError("no characters")
        self._chars = {}
        for c in characters:
            if c.name in self._chars:
                raise ValueError("duplicate")
            self._chars[c.name] = c
        self.tokenizer = tokenizer
        self.lock = threading.Lock()
        self.model = None
        for c in characters:
            if self.model is None:
                self.model = PeftModel.from_pretrained(model, str(c.adapter_path), adapter_name=c.name)
            else:
                self.model.load_adapter(str(c.adapter_path), adapter_name=c.name)
        self.model.eval()
"""),
    ("        raise NotImplementedError('TODO: the names, in order')\n",
     """\
        return list(self._chars)
"""),
    ("        raise NotImplementedError('TODO: look it up')\n",
     """\
        return self._chars[name]
"""),
    ("        raise NotImplementedError('TODO: validate, build the prompt, then under a lock: set_adapter, generate, decode the new tokens')\n",
     """\
        c = self._chars[character]
        if max_new_tokens < 1 or not messages:
            raise ValueError("bad")
        ids = self.tokenizer.apply_chat_template([{"role": "system", "content": c.system_prompt}] + list(messages),
                                                 add_generation_prompt=True, tokenize=True, return_dict=False)
        ids = torch.tensor([list(ids)])
        kw = {"do_sample": False} if temperature == 0 else {"do_sample": True, "temperature": temperature}
        with self.lock, torch.no_grad():
            self.model.set_adapter(character)
            out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                      eos_token_id=self.tokenizer.eos_token_id, pad_token_id=self.tokenizer.pad_token_id, **kw)
        return self.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()
"""),
    ("    raise NotImplementedError('TODO: a FastAPI app with pydantic models for the body, the four routes and the error responses')\n",
     """\
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse, JSONResponse
    from pydantic import BaseModel, Field
    from typing import Literal

    class Msg(BaseModel):
        role: Literal["user", "assistant"]
        content: str

    class Body(BaseModel):
        character: str
        messages: list[Msg] = Field(min_length=1)
        max_new_tokens: int = Field(64, ge=1, le=512)

    app = FastAPI()

    @app.get("/")
    def index():
        return HTMLResponse(chat_page())

    @app.get("/healthz")
    def health():
        return {"status": "ok", "characters": len(engine.characters())}

    @app.get("/api/characters")
    def chars():
        return [{"name": n, "greeting": engine.character(n).greeting} for n in engine.characters()]

    @app.post("/api/chat")
    def chat(body: Body):
        if body.character not in engine.characters():
            return JSONResponse({"error": f"unknown; known: {engine.characters()}"}, status_code=404)
        if any(len(m.content) > max_message_chars for m in body.messages):
            return JSONResponse({"error": "too long"}, status_code=413)
        try:
            r = engine.reply(body.character, [m.model_dump() for m in body.messages], body.max_new_tokens)
        except Exception as e:
            return JSONResponse({"error": str(e)}, status_code=500)
        return {"character": body.character, "reply": r}

    return app
"""),
]
