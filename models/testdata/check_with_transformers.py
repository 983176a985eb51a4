"""Check tempo's Hugging Face exports with transformers itself (not part of the test suite: tempo
does not depend on Python). With torch, transformers and numpy installed:

  deno task tempo export --checkpoint runs/demo --out /tmp/demo-hf
  python models/testdata/check_with_transformers.py gpt2-loss /tmp/demo-hf \
      .cache/tempo/moby-dick/bytes/val.bin      # = tempo eval --checkpoint runs/demo --batches 1
  python models/testdata/check_with_transformers.py gpt2-greedy /tmp/demo-hf '[67,97,108,108]' 40
  python models/testdata/check_with_transformers.py mlm /tmp/bert-hf \
      '{"ids":[101,1996,103,1997,1996,2712,102],"masks":[2]}' 5   # = tempo fill-mask --json
  python models/testdata/check_with_transformers.py tok /tmp/bert-hf "the [MASK] of the sea"

Each prints JSON to compare with what tempo prints for the same input.
"""
import json
import sys

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

torch.set_grad_enabled(False)
kind, folder = sys.argv[1], sys.argv[2]
if kind == "gpt2-loss":
    # The first validation batch of a run at batch 8, sequence 64: windows 0..7 of the split.
    B, T = 8, 64
    toks = np.fromfile(sys.argv[3], dtype=np.uint16, offset=1024).astype(np.int64)
    x = torch.tensor(np.stack([toks[w * T : w * T + T] for w in range(B)]))
    y = torch.tensor(np.stack([toks[w * T + 1 : w * T + T + 1] for w in range(B)]))
    logits = AutoModelForCausalLM.from_pretrained(folder).eval()(input_ids=x).logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    print(json.dumps({"loss": loss.item()}))
elif kind == "gpt2-greedy":
    prompt, n = json.loads(sys.argv[3]), int(sys.argv[4])
    m = AutoModelForCausalLM.from_pretrained(folder).eval()
    out = m.generate(torch.tensor([prompt]), max_new_tokens=n, do_sample=False, pad_token_id=0)
    print(json.dumps(out[0, len(prompt) :].tolist()))
elif kind == "mlm":
    row, k = json.loads(sys.argv[3]), int(sys.argv[4])
    m = AutoModelForMaskedLM.from_pretrained(folder).eval()
    logits = m(input_ids=torch.tensor([row["ids"]])).logits[0]
    res = []
    for pos in row["masks"]:
        top = torch.topk(torch.softmax(logits[pos].double(), -1), k)
        res.append([[int(i), float(v)] for v, i in zip(top.values, top.indices)])
    print(json.dumps(res))
elif kind == "tok":
    print(json.dumps(AutoTokenizer.from_pretrained(folder)(sys.argv[3])["input_ids"]))
else:
    sys.exit(f"unknown check {kind}")
