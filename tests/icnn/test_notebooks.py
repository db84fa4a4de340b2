"""Execute the icnn notebooks end to end (slow) and check what they print."""

import pytest

from tests._notebooks import execute_notebook


def _run(name: str) -> str:
    return execute_notebook(name, timeout=1800).text


@pytest.mark.slow
def test_monge_maps_notebook():
    text = _run("monge_maps.ipynb")
    uvps = {}
    for line in text.splitlines():
        if "L2-UVP" in line:
            name_method, rest = line.split(":", 1)
            uvps[" ".join(name_method.split())] = float(rest.split("%")[0].split()[-1])
    assert len(uvps) == 6
    # Measured (1,500 steps, stored outputs): 1.9 / 6.4 / 3.2 % (amortized), 5.7 / 6.7 /
    # 3.5 % (Alg. 10). The notebook's short fits do not converge on these non-affine maps;
    # 10 % still separates a learned map from a poor one (the identity map scores 17.6 %
    # on the split map: E‖½ e₁‖² / Var(Q) = 0.25 / 1.42).
    assert all(v < 10.0 for v in uvps.values()), uvps


@pytest.mark.slow
def test_counterfactual_fairness_notebook():
    text = _run("counterfactual_fairness.ipynb")
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("amortized:"))
    rates = [float(t) for t in line.replace(")", " ").split() if t.replace(".", "").isdigit()]
    women, counterfactual, men = rates
    # T pushes the women's distribution onto the men's: f ∘ T hires women like men
    assert women < men - 0.3
    assert abs(counterfactual - men) < 0.05
    spearman = float(text.split("after transport:")[1].split()[0])
    assert spearman > 0.95  # the monotone map keeps the experience ranking
