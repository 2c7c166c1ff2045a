#!/usr/bin/env python3
"""Generate the PyTorch golden fixtures for lamina's recurrent layers (embedding, rnn, lstm,
gru, and linear over a sequence) and for the char-LSTM imported from a PyTorch state_dict.

Regenerate (from the repository root; needs PyTorch, generated with torch 1.13.0a0, the
Debian python3-torch package, CPU, one thread):

    /usr/bin/python3 tests/golden/gen_rnn.py [DIR]

which writes, into DIR (default: this script's directory, tests/golden):

    rnn_golden.safetensors         every case's inputs, weights and PyTorch's results
    char_lstm_weights.safetensors  the char-LSTM's state_dict, as `lamina import` reads it

Both are written by tools/export_torch.py's save_state_dict (tensors by decreasing element
size, then in the order below; __metadata__ records the torch version, the command and
each case's lamina spec). The script is deterministic: two runs on the same machine and
torch build give byte-identical files. Other CPUs or torch builds may differ in the last
bits, so test_rnn.c compares with tolerances, not bitwise.

Definitions (PyTorch's, which lamina follows; batch_first=True everywhere, float32)

  nn.RNN    h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or relu
  nn.LSTM   (i, f, g, o) = the four H-row blocks of W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
            c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g);  h_t = sigmoid(o) * tanh(c_t)
  nn.GRU    (r, z, n) blocks: r = sigmoid(W_ir x + b_ir + W_hr h + b_hr),
            z = sigmoid(W_iz x + b_iz + W_hz h + b_hz),
            n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h_t = (1 - z) * n + z * h_{t-1}

  With bidirectional=1 a second direction (tensors "_reverse") runs t = T-1 .. 0 from its
  own initial state, and the layer's output at t is [forward h_t, reverse h_t] (2H wide);
  layer l > 0 reads layer l-1's whole output. h_n and c_n are (layers * dirs, N, H), row
  l * dirs + d the final state of layer l, direction d (for the reverse direction: its
  state after t = 0). out=last is output[:, -1, :] (the reverse direction's value there is
  its state after one step). Initial states are zero unless the case gives "init" tensors
  (lamina: the state views, with lam_model_set_carry(m, 1)). Dropout is 0 in every
  gradient case. The script checks each PyTorch forward against its own float64 loops of
  these formulas (to 1e-5), so the definitions above are the ones the fixtures hold.

  nn.Embedding(V, D): token id k (stored as a float in x) -> row k of weight (V, D).
  nn.Linear(K, OUT) on a (N, T, K) sequence acts on the last dimension.

Cases (N = 3 rows each; lamina builds them with max_batch 4, so its state views hold one
row more than PyTorch's h_n; spec as in test_rnn.c, also stored as metadata "spec.<case>")

  emb             embedding:11,5,name=emb                    x (3, 6) ids
  emb_lstm        embedding:11,5,name=emb lstm:6,name=lstm   x (3, 6) ids
  rnn_tanh        rnn:6,name=rnn                             x (3, 5, 5)
  rnn_relu2       rnn:5,layers=2,nonlinearity=relu,name=rnn  x (3, 6, 4), weights * 0.5
  rnn_bi_last_h0  rnn:4,bidirectional=1,out=last,name=rnn    x (3, 5, 3), h0 given
  lstm_bi2        lstm:5,layers=2,bidirectional=1,name=lstm  x (3, 5, 6)
  lstm_bi2_h0     the same spec, other weights, (h0, c0) given
  lstm2_last_h0   lstm:6,layers=2,out=last,name=lstm         x (3, 7, 4), (h0, c0) given
  lstm_linear     lstm:5,name=lstm linear:out,name=head      x (3, 4, 4), out = 3
  gru2            gru:6,layers=2,name=gru                    x (3, 6, 5)
  gru_bi2_h0      gru:4,layers=2,bidirectional=1,out=last,name=gru
                                                             x (3, 4, 3), h0 given

Case k (0-based, in this order) uses seed s = 1000 + k: torch.manual_seed(s), then the
modules are built in spec order with torch's default initialisation (nn.Embedding N(0, 1);
the recurrent kinds U(-1/sqrt(H), 1/sqrt(H)), weights and biases; nn.Linear weights and
bias U(-1/sqrt(in_features), 1/sqrt(in_features))). Then, from
g = torch.Generator().manual_seed(s), in this order: x (ids: torch.randint(0, 11, (3, 6));
features: torch.randn), the initial states (randn * 0.5: h0, then c0 for an LSTM) when the
case has them, and the MSE targets (randn of the output's shape). Two cases look further:
  - the embedding cases take the first x, drawing again from g, that uses ids 0 and 10,
    some id at least twice and leaves at least two ids unused (so the weight gradient has
    accumulated rows and zero rows);
  - rnn_relu2 multiplies every weight and bias by 0.5 (activations stay O(1)) and takes
    the first x, drawing again from g, whose ReLU inputs are all at least KINK_MARGIN =
    1e-4 away from 0 (one on the kink could take the other side in lamina and change the
    gradients by far more than rounding).
Then out = model(x) (and states), loss = F.mse_loss(out, target) (the mean over every
element), loss.backward().

rnn_golden.safetensors holds, per case C (F32 unless stated):

  "C.x"                    (3, T) ids or (3, T, D) features
  "C.target", "C.y"        the output's shape: (3, T, K) or, for out=last, (3, K)
  "C.loss"                 ()
  "C.param.<name>"         every parameter, under lamina's name for it, which is PyTorch's
                           state_dict name: "emb.weight", "lstm.weight_ih_l0",
                           "lstm.bias_hh_l1_reverse", "head.weight", ...
  "C.grad.<name>"          its gradient
  "C.init.<node>.h_n"      (layers * dirs, 3, H) the initial hidden state, when given
  "C.init.<node>.c_n"      the same for an LSTM's cell state
  "C.state.<node>.h_n"     (layers * dirs, 3, H) the final states; ".c_n" for an LSTM

and the char-LSTM (lamina's built-in char-lstm, eval mode):

  embedding:vocab,64,name=encoder lstm:256,layers=2,dropout=0.2,name=rnn
  linear:vocab,name=decoder

as a PyTorch module with submodules encoder = nn.Embedding(20, 64), rnn = nn.LSTM(64, 256,
2, dropout=0.2, batch_first=True), decoder = nn.Linear(256, 20) (vocabulary V = 20),
weights from torch.manual_seed(2000) and the default initialisation; its state_dict (11
tensors, 862,484 parameters) is char_lstm_weights.safetensors. From
g = torch.Generator().manual_seed(2000): x = torch.randint(0, 20, (2, 5)) (stored as F32),
labels = torch.randint(0, 20, (2, 5)); model.eval(); logits = decoder(rnn(encoder(x))),
loss = F.cross_entropy(logits.reshape(-1, 20), labels.reshape(-1)) (the mean over the 10
positions):

  "char_lstm.x"            (2, 5)      token ids as floats
  "char_lstm.labels"       (2, 5)      I64
  "char_lstm.logits"       (2, 5, 20)
  "char_lstm.loss"         ()
  "char_lstm.state.rnn.h_n", "char_lstm.state.rnn.c_n"   (2, 2, 256)
"""
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from export_torch import save_state_dict  # noqa: E402

COMMAND = "/usr/bin/python3 tests/golden/gen_rnn.py"
BATCH = 3
KINK_MARGIN = 1e-4
REF_TOL = 1e-5
V_SMALL = 11
CHAR_V = 20
CHAR_BATCH = 2
CHAR_T = 5
CHAR_SEED = 2000

# Each case: name, lamina spec, nodes (node name, kind, options), T, D (0: token ids),
# whether initial states are given, and the factor on every parameter.
CASES = [
    ("emb", "embedding:11,5,name=emb",
     [("emb", "embedding", dict(V=V_SMALL, D=5))], 6, 0, False, 1.0),
    ("emb_lstm", "embedding:11,5,name=emb lstm:6,name=lstm",
     [("emb", "embedding", dict(V=V_SMALL, D=5)), ("lstm", "lstm", dict(H=6))], 6, 0, False,
     1.0),
    ("rnn_tanh", "rnn:6,name=rnn", [("rnn", "rnn", dict(H=6))], 5, 5, False, 1.0),
    ("rnn_relu2", "rnn:5,layers=2,nonlinearity=relu,name=rnn",
     [("rnn", "rnn", dict(H=5, L=2, relu=True))], 6, 4, False, 0.5),
    ("rnn_bi_last_h0", "rnn:4,bidirectional=1,out=last,name=rnn",
     [("rnn", "rnn", dict(H=4, bi=True, last=True))], 5, 3, True, 1.0),
    ("lstm_bi2", "lstm:5,layers=2,bidirectional=1,name=lstm",
     [("lstm", "lstm", dict(H=5, L=2, bi=True))], 5, 6, False, 1.0),
    ("lstm_bi2_h0", "lstm:5,layers=2,bidirectional=1,name=lstm",
     [("lstm", "lstm", dict(H=5, L=2, bi=True))], 5, 6, True, 1.0),
    ("lstm2_last_h0", "lstm:6,layers=2,out=last,name=lstm",
     [("lstm", "lstm", dict(H=6, L=2, last=True))], 7, 4, True, 1.0),
    ("lstm_linear", "lstm:5,name=lstm linear:out,name=head",
     [("lstm", "lstm", dict(H=5)), ("head", "linear", dict(OUT=3))], 4, 4, False, 1.0),
    ("gru2", "gru:6,layers=2,name=gru", [("gru", "gru", dict(H=6, L=2))], 6, 5, False, 1.0),
    ("gru_bi2_h0", "gru:4,layers=2,bidirectional=1,out=last,name=gru",
     [("gru", "gru", dict(H=4, L=2, bi=True, last=True))], 4, 3, True, 1.0),
]

RECURRENT = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


class Net(torch.nn.Module):
    """The nodes of a case in order, each a submodule under its lamina node name."""

    def __init__(self, nodes, d_in):
        super().__init__()
        self.nodes = nodes
        width = d_in
        for name, kind, o in nodes:
            if kind == "embedding":
                mod = torch.nn.Embedding(o["V"], o["D"])
                width = o["D"]
            elif kind == "linear":
                mod = torch.nn.Linear(width, o["OUT"])
                width = o["OUT"]
            else:
                extra = {"nonlinearity": "relu" if o.get("relu") else "tanh"} \
                    if kind == "rnn" else {}
                mod = RECURRENT[kind](width, o["H"], num_layers=o.get("L", 1),
                                      bidirectional=o.get("bi", False), batch_first=True,
                                      **extra)
                width = o["H"] * (2 if o.get("bi") else 1)
            setattr(self, name, mod)

    def forward(self, x, init=None):
        """(output, {"<node>.h_n": ..., "<node>.c_n": ...}); init as the returned dict."""
        states = {}
        for name, kind, o in self.nodes:
            mod = getattr(self, name)
            if kind == "embedding":
                x = mod(x.long())
            elif kind == "linear":
                x = mod(x)
            else:
                h0 = None
                if init is not None and name + ".h_n" in init:
                    h0 = init[name + ".h_n"]
                    if kind == "lstm":
                        h0 = (h0, init[name + ".c_n"])
                x, hn = mod(x, h0)
                if kind == "lstm":
                    states[name + ".h_n"], states[name + ".c_n"] = hn
                else:
                    states[name + ".h_n"] = hn
                if o.get("last"):
                    x = x[:, -1, :]
        return x, states


# ------------------------------------------------------------ float64 reference loops

def ref_recurrent(mod, kind, x, h0, c0, relu, pre_acts):
    """PyTorch's recurrent module by the formulas in the header, in float64. x (N, T, D).
    Appends every ReLU input to pre_acts. Returns (output (N, T, dirs*H), h_n, c_n)."""
    n, t_len, _ = x.shape
    hid = mod.hidden_size
    dirs = 2 if mod.bidirectional else 1
    h_n = torch.zeros(mod.num_layers * dirs, n, hid, dtype=torch.float64)
    c_n = torch.zeros_like(h_n)
    inp = x
    for layer in range(mod.num_layers):
        outs = []
        for d in range(dirs):
            sfx = "_l%d%s" % (layer, "_reverse" if d else "")
            w_ih = getattr(mod, "weight_ih" + sfx).double()
            w_hh = getattr(mod, "weight_hh" + sfx).double()
            b_ih = getattr(mod, "bias_ih" + sfx).double()
            b_hh = getattr(mod, "bias_hh" + sfx).double()
            k = layer * dirs + d
            h = h0[k].double() if h0 is not None else torch.zeros(n, hid, dtype=torch.float64)
            c = c0[k].double() if c0 is not None else torch.zeros(n, hid, dtype=torch.float64)
            out = [None] * t_len
            steps = range(t_len - 1, -1, -1) if d else range(t_len)
            for t in steps:
                gi = inp[:, t] @ w_ih.t() + b_ih
                gh = h @ w_hh.t() + b_hh
                if kind == "rnn":
                    a = gi + gh
                    if relu:
                        pre_acts.append(a)
                        h = torch.relu(a)
                    else:
                        h = torch.tanh(a)
                elif kind == "lstm":
                    i, f, g, o = (gi + gh).chunk(4, dim=1)
                    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                    h = torch.sigmoid(o) * torch.tanh(c)
                else:
                    ir, iz, inn = gi.chunk(3, dim=1)
                    hr, hz, hn = gh.chunk(3, dim=1)
                    r = torch.sigmoid(ir + hr)
                    z = torch.sigmoid(iz + hz)
                    nn_ = torch.tanh(inn + r * hn)
                    h = (1 - z) * nn_ + z * h
                out[t] = h
            outs.append(torch.stack(out, dim=1))
            h_n[k] = h
            c_n[k] = c
        inp = torch.cat(outs, dim=2)
    return inp, h_n, c_n


def ref_forward(net, x, init):
    """Net.forward in float64 by ref_recurrent. Returns (output, states, ReLU inputs)."""
    pre_acts = []
    states = {}
    x = x.double()
    for name, kind, o in net.nodes:
        mod = getattr(net, name)
        if kind == "embedding":
            x = mod.weight.double()[x.long()]
        elif kind == "linear":
            x = x @ mod.weight.double().t() + mod.bias.double()
        else:
            h0 = init.get(name + ".h_n") if init else None
            c0 = init.get(name + ".c_n") if init else None
            x, h_n, c_n = ref_recurrent(mod, kind, x, h0, c0, o.get("relu"), pre_acts)
            states[name + ".h_n"] = h_n
            if kind == "lstm":
                states[name + ".c_n"] = c_n
            if o.get("last"):
                x = x[:, -1, :]
    return x, states, pre_acts


def check_against_ref(case, net, x, init, y, states):
    """Assert PyTorch's forward matches the float64 loops; return the smallest |ReLU input|."""
    with torch.no_grad():
        ry, rstates, pre_acts = ref_forward(net, x, init)
    pairs = [("y", y, ry)] + [(k, states[k], rstates[k]) for k in states]
    assert set(states) == set(rstates), (case, sorted(states), sorted(rstates))
    for what, got, want in pairs:
        err = (got.double() - want).abs().max().item()
        scale = max(want.abs().max().item(), 1e-3)
        if err > REF_TOL * scale:
            raise SystemExit("%s: %s differs from the float64 loops by %.3g" % (case, what, err))
    if not pre_acts:
        return float("inf")
    return min(a.abs().min().item() for a in pre_acts)


# ------------------------------------------------------------ cases

def good_ids(ids, vocab):
    """Ids 0 and vocab-1 used, some id twice, at least two ids unused."""
    counts = torch.bincount(ids.reshape(-1), minlength=vocab)
    return (counts[0] > 0 and counts[vocab - 1] > 0 and counts.max() >= 2
            and (counts == 0).sum() >= 2)


def draw_states(nodes, g):
    """Initial states (randn * 0.5), h0 then c0 per recurrent node, in node order."""
    init = {}
    for name, kind, o in nodes:
        if kind in RECURRENT:
            rows = o.get("L", 1) * (2 if o.get("bi") else 1)
            init[name + ".h_n"] = torch.randn(rows, BATCH, o["H"], generator=g) * 0.5
            if kind == "lstm":
                init[name + ".c_n"] = torch.randn(rows, BATCH, o["H"], generator=g) * 0.5
    return init


def run_case(k, case, out):
    name, spec, nodes, t_len, d_in, has_init, scale = case
    seed = 1000 + k
    torch.manual_seed(seed)
    net = Net(nodes, d_in)
    if scale != 1.0:
        with torch.no_grad():
            for p in net.parameters():
                p.mul_(scale)
    g = torch.Generator().manual_seed(seed)
    tries = 0
    while True:
        tries += 1
        if d_in == 0:
            x = torch.randint(0, V_SMALL, (BATCH, t_len), generator=g)
            if not good_ids(x, V_SMALL):
                continue
            x = x.float()
        else:
            x = torch.randn(BATCH, t_len, d_in, generator=g)
        init = draw_states(nodes, g) if has_init else None
        with torch.no_grad():
            y, states = net(x, init)
        margin = check_against_ref(name, net, x, init, y, states)
        if margin >= KINK_MARGIN:
            break
        if tries > 1000:
            raise SystemExit("%s: no input clear of the ReLU kinks in 1000 draws" % name)
    target = torch.randn(y.shape, generator=g)

    net.zero_grad()
    y, states = net(x, init)
    loss = F.mse_loss(y, target)
    loss.backward()

    out.append((name + ".x", x))
    out.append((name + ".target", target))
    out.append((name + ".y", y.detach()))
    out.append((name + ".loss", loss.detach().reshape(())))
    out += [(name + ".param." + n, p.detach().clone()) for n, p in net.named_parameters()]
    out += [(name + ".grad." + n, p.grad.clone()) for n, p in net.named_parameters()]
    if init is not None:
        out += [(name + ".init." + s, v) for s, v in init.items()]
    out += [(name + ".state." + s, v.detach()) for s, v in states.items()]
    nparam = sum(p.numel() for p in net.parameters())
    extra = (", smallest ReLU input %.3g after %d draws" % (margin, tries)
             if margin != float("inf") else "")
    print("%-16s %-50s y %s, %d params, loss %.6f%s"
          % (name, spec, "x".join(map(str, y.shape)), nparam, loss.item(), extra))
    return spec


class CharLSTM(torch.nn.Module):
    """lamina's built-in char-lstm for a vocabulary of v."""

    def __init__(self, v):
        super().__init__()
        self.encoder = torch.nn.Embedding(v, 64)
        self.rnn = torch.nn.LSTM(64, 256, 2, dropout=0.2, batch_first=True)
        self.decoder = torch.nn.Linear(256, v)

    def forward(self, x):
        y, (h_n, c_n) = self.rnn(self.encoder(x))
        return self.decoder(y), h_n, c_n


def char_lstm(out_dir, out):
    torch.manual_seed(CHAR_SEED)
    model = CharLSTM(CHAR_V)
    model.eval()
    g = torch.Generator().manual_seed(CHAR_SEED)
    x = torch.randint(0, CHAR_V, (CHAR_BATCH, CHAR_T), generator=g)
    labels = torch.randint(0, CHAR_V, (CHAR_BATCH, CHAR_T), generator=g)
    with torch.no_grad():
        logits, h_n, c_n = model(x)
        loss = F.cross_entropy(logits.reshape(-1, CHAR_V), labels.reshape(-1))
    # the float64 loops again, for the LSTM in the middle
    with torch.no_grad():
        emb = model.encoder.weight.double()[x]
        ry, rh, rc = ref_recurrent(model.rnn, "lstm", emb, None, None, False, [])
        rlogits = ry @ model.decoder.weight.double().t() + model.decoder.bias.double()
    for what, got, want in (("logits", logits, rlogits), ("h_n", h_n, rh), ("c_n", c_n, rc)):
        err = (got.double() - want).abs().max().item()
        if err > REF_TOL * max(want.abs().max().item(), 1e-3):
            raise SystemExit("char_lstm: %s differs from the float64 loops by %.3g"
                             % (what, err))
    weights_path = os.path.join(out_dir, "char_lstm_weights.safetensors")
    sd = model.state_dict()
    size = save_state_dict(sd, weights_path, {
        "model": "char-lstm", "vocab": str(CHAR_V), "seed": str(CHAR_SEED),
        "command": COMMAND})
    print("wrote %s: %d tensors, %d parameters, %d bytes"
          % (weights_path, len(sd), sum(t.numel() for t in sd.values()), size))
    out.append(("char_lstm.x", x.float()))
    out.append(("char_lstm.labels", labels))
    out.append(("char_lstm.logits", logits))
    out.append(("char_lstm.loss", loss.reshape(())))
    out.append(("char_lstm.state.rnn.h_n", h_n))
    out.append(("char_lstm.state.rnn.c_n", c_n))
    print("char_lstm        logits in [%.4f, %.4f], loss %.6f"
          % (logits.min(), logits.max(), loss.item()))


def main():
    if len(sys.argv) > 2:
        sys.exit("usage: gen_rnn.py [DIR]")
    out_dir = sys.argv[1] if len(sys.argv) == 2 else HERE
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    out = []
    meta = {"command": COMMAND, "batch": str(BATCH), "kink_margin": repr(KINK_MARGIN),
            "cases": ",".join(c[0] for c in CASES)}
    for k, case in enumerate(CASES):
        meta["spec." + case[0]] = run_case(k, case, out)
    char_lstm(out_dir, out)
    meta["spec.char_lstm"] = ("embedding:vocab,64,name=encoder lstm:256,layers=2,dropout=0.2,"
                              "name=rnn linear:vocab,name=decoder")
    golden_path = os.path.join(out_dir, "rnn_golden.safetensors")
    size = save_state_dict(out, golden_path, meta)
    print("wrote %s: %d tensors, %d bytes" % (golden_path, len(out), size))


if __name__ == "__main__":
    main()
