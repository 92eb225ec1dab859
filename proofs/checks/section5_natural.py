"""§5, soft Q-learning and natural policy gradients: Eqs. (66)-(78) and the text claims.

Per-sample quantities are symbols: ℓ_θ = log(π_θ/π̄)(a_t|s_t), ℓ_old =
log(π_θold/π̄)(a_t|s_t), KL_old = KL[π_θold, π̄](s_t), Δ_t, V_θ(s_t) = V_θold(s_t)
(the paper's assumption before (72)), τ, and two step sizes: ε of the
natural-gradient problems (66)-(71) and ε of the damped target (74).
Least-squares minimisers are computed by sympy from the normal equations of
the linearised problems (log π_θ − log π_θold ≈ ψ·(θ − θ_old), Eq. (67)) with a
symbolic 3 × 2 score matrix Ψ or T = 3 one-dimensional scores.
"""

from __future__ import annotations

import sympy as sp

from ..core import CheckResult, check, extended, failed
from ..models import WITNESS_TAU, R, softmax_policy
from ..symbolic import Witness, decide, decide_all, fmt

TAU = sp.Symbol("tau", positive=True)
EPS = sp.Symbol("epsilon", positive=True)
L, LOLD, KLOLD, DELTA, V = sp.symbols("ell ell_old KL_old Delta V", real=True)
LOGPIBAR = sp.Symbol("log_pibar", real=True)
WITNESS = Witness(
    {
        TAU: WITNESS_TAU,
        EPS: R(1, 10),
        L: R(1, 3),
        LOLD: R(-1, 4),
        KLOLD: R(1, 5),
        DELTA: R(3, 7),
        V: R(5, 6),
        LOGPIBAR: R(-6, 5),
    },
    "τ = 2/5, ε = 1/10, log(π_θ/π̄) = 1/3, log(π_θold/π̄) = −1/4, KL_old = 1/5, Δ_t = 3/7, V_θ(s_t) = 5/6, "
    "log π̄(a_t|s_t) = −6/5",
)


# --------------------------------------------------------------------------- (66)-(68)


def _scores():
    psi = sp.Matrix(3, 2, sp.symbols("psi0:6", real=True))
    delta = sp.Matrix(sp.symbols("Delta0:3", real=True))
    values = dict(zip(psi, (R(1), R(2), R(-1), R(1, 2), R(3, 2), R(-2))))
    values.update(zip(delta, (R(1, 2), R(-3, 4), R(2))))
    values[EPS] = R(1, 10)
    values[TAU] = WITNESS_TAU
    return (
        psi,
        delta,
        Witness(values, "Ψ = [[1, 2], [−1, 1/2], [3/2, −2]], Δ = (1/2, −3/4, 2), ε = 1/10, τ = 2/5"),
    )


@check("eq066_normal_equations", kind="symbolic", equations=(66,))
def eq066_normal_equations() -> CheckResult:
    """w = ε(ΨᵀΨ)⁻¹ΨᵀΔ solves min_w ½‖Ψw − εΔ‖² and equals ε·F̂⁻¹ĝ with F̂ = ΨᵀΨ/T, ĝ = ΨᵀΔ/T."""
    psi, delta, witness = _scores()
    w = EPS * (psi.T * psi).inv() * psi.T * delta
    gradient = psi.T * (psi * w - EPS * delta)
    results = [
        decide(
            gradient[j],
            0,
            witness,
            statement=f"∂/∂w_{j} of (66) vanishes at w",
            control=(j == 0),
            wrong=((psi.T * (psi * (EPS * psi.T * delta) - EPS * delta))[j], 0),
            wrong_label="w = εΨᵀΔ (no Fisher inverse)",
        )
        for j in range(2)
    ]
    fisher, grad = psi.T * psi / 3, psi.T * delta / 3
    natural = EPS * fisher.inv() * grad
    results += [
        decide(
            w[j],
            natural[j],
            witness,
            statement=f"w_{j} = ε(F̂⁻¹ĝ)_{j}",
            control=(j == 0),
            wrong=EPS * grad[j],
            wrong_label="ε ĝ (plain gradient)",
        )
        for j in range(2)
    ]
    return decide_all(results)


def _softmax_two_params():
    """π_θ(a) ∝ exp(φ_a·θ), 3 actions, θ ∈ R²: log π_θ, its score ψ, and a witness."""
    th = sp.symbols("theta0:2", real=True)
    phi = sp.Matrix(3, 2, sp.symbols("phi0:6", real=True))
    logits = [phi[a, 0] * th[0] + phi[a, 1] * th[1] for a in range(3)]
    log_z = sp.log(sp.Add(*[sp.exp(z) for z in logits]))
    log_pi = [z - log_z for z in logits]
    values = dict(zip(phi, (R(1), R(-1), R(1, 2), R(2), R(-3, 2), R(1, 3))))
    values.update({th[0]: R(1, 4), th[1]: R(-1, 2)})
    return th, log_pi, values


@check("eq067_first_order", kind="symbolic", equations=(67,))
def eq067_first_order() -> CheckResult:
    """log π_{θ+εw}(a) − log π_θ(a) = ε ψ(a)·w + O(ε²) with ψ = ∇_θ log π_θ (softmax, 3 actions, θ ∈ R²)."""
    th, log_pi, values = _softmax_two_params()
    w = sp.symbols("w0:2", real=True)
    values.update({w[0]: R(2, 3), w[1]: R(-1, 5), EPS: R(1, 10)})
    witness = Witness(
        values, "logits φ_a·θ with φ = [[1, −1], [1/2, 2], [−3/2, 1/3]], θ = (1/4, −1/2), w = (2/3, −1/5)"
    )
    results = []
    for a in range(3):
        shifted = log_pi[a].xreplace({th[0]: th[0] + EPS * w[0], th[1]: th[1] + EPS * w[1]})
        change = shifted - log_pi[a]
        first = sp.diff(change, EPS).xreplace({EPS: 0})
        psi_w = sp.diff(log_pi[a], th[0]) * w[0] + sp.diff(log_pi[a], th[1]) * w[1]
        results.append(
            decide(
                first,
                psi_w,
                witness,
                statement=f"d/dε (change) at ε = 0 equals ψ·w, action {a}",
                control=(a == 0),
                wrong=psi_w / 2,
                wrong_label="½ψ·w",
            )
        )
        results.append(
            decide(
                change.xreplace({EPS: 0}),
                0,
                witness,
                statement=f"no change at ε = 0, action {a}",
                control=(a == 0),
                wrong=(psi_w, 0),
                wrong_label="ψ·w ≠ 0",
            )
        )
    out = decide_all(results)
    second = sp.diff(
        log_pi[0].xreplace({th[0]: th[0] + EPS * w[0], th[1]: th[1] + EPS * w[1]}), EPS, 2
    ).xreplace({EPS: 0})
    from ..symbolic import evaluate

    curvature = evaluate(second, witness)
    return extended(
        out, f"; the ε² coefficient is not 0 in general ({fmt(curvature / 2)} at the witness), so "
        "(67) is exactly first order",
    )


@check("eq066_eq067_to_eq068", kind="symbolic", equations=(66, 67, 68))
def eq066_eq067_to_eq068() -> CheckResult:
    """Linearising log π_θ − log π_θold ≈ ψ·u (67), the minimiser of (68) over u = θ − θ_old is w of (66)."""
    psi, delta, witness = _scores()
    u = sp.Matrix(sp.symbols("u0:2", real=True))
    loss68 = sp.Add(*[((psi[t, :] * u)[0] - EPS * delta[t]) ** 2 / 2 for t in range(3)])
    sol = sp.solve([sp.diff(loss68, x) for x in u], list(u), dict=True)[0]
    w = EPS * (psi.T * psi).inv() * psi.T * delta
    results = [
        decide(
            sol[u[j]],
            w[j],
            witness,
            statement=f"argmin of linearised (68), component {j} = w_{j} of (66)",
            control=(j == 0),
            wrong=EPS * w[j],
            wrong_label="εw (the update 'θ − θ_old = εw' of the text)",
        )
        for j in range(2)
    ]
    return decide_all(results)


@check("text5_update_is_eps_w", kind="symbolic", equations=(66, 67, 68))
def text5_update_is_eps_w() -> CheckResult:
    """The text: 'perform a parameter update with θ − θ_old = εw' (w from (66)) realises (68)."""
    psi, delta, witness = _scores()
    u = sp.Matrix(sp.symbols("u0:2", real=True))
    loss68 = sp.Add(*[((psi[t, :] * u)[0] - EPS * delta[t]) ** 2 / 2 for t in range(3)])
    sol = sp.solve([sp.diff(loss68, x) for x in u], list(u), dict=True)[0]
    w = EPS * (psi.T * psi).inv() * psi.T * delta
    return decide_all(
        [
            decide(
                EPS * w[j],
                sol[u[j]],
                witness,
                statement=f"εw = argmin of linearised (68), component {j}",
                wrong=0,
            )
            for j in range(2)
        ]
    )


# --------------------------------------------------------------------------- (69)-(71)


@check("eq069_to_eq070", kind="symbolic", equations=(21, 69, 70))
def eq069_to_eq070() -> CheckResult:
    """E[∇log π Δ − τ∇KL] = E[∇log π (Δ − τ[log(π/π̄) − KL])] (by (21) and E[∇log π·const] = 0), k = 2, 3."""
    results = []
    for k in (2, 3):
        m = softmax_policy(k)
        dlog = [m.d(sp.log(p)) for p in m.pi]
        lhs = m.E([d * dl for d, dl in zip(dlog, m.delta)]) - m.tau * m.d(m.kl)
        rhs = m.E(
            [d * (dl - m.tau * (sp.log(p / pb) - m.kl)) for d, dl, p, pb in zip(dlog, m.delta, m.pi, m.pbar)]
        )
        wrong = m.E(
            [d * (dl + m.tau * (sp.log(p / pb) - m.kl)) for d, dl, p, pb in zip(dlog, m.delta, m.pi, m.pbar)]
        )
        results.append(
            decide(
                m.stage1(lhs),
                m.stage1(rhs),
                m.witness,
                statement=f"(69) = (70) (k={k})",
                control=(k == 2),
                wrong=m.stage1(wrong),
                wrong_label="+τ[…] (sign)",
            )
        )
    return decide_all(results)


def _one_dim_scores():
    """T = 3 samples with scalar scores ψ_t and per-sample ℓ_old, KL_old, Δ."""
    psi = sp.symbols("psi0:3", real=True)
    lold = sp.symbols("ell_old0:3", real=True)
    klold = sp.symbols("KL_old0:3", real=True)
    delta = sp.symbols("Delta0:3", real=True)
    values = {TAU: WITNESS_TAU, EPS: R(1, 10)}
    values.update(zip(psi, (R(1), R(-1, 2), R(3, 2))))
    values.update(zip(lold, (R(-1, 4), R(1, 3), R(1, 2))))
    values.update(zip(klold, (R(1, 5), R(1, 7), R(1, 3))))
    values.update(zip(delta, (R(3, 7), R(-1), R(1, 2))))
    witness = Witness(
        values,
        "T = 3, ψ = (1, −1/2, 3/2), log(π_θold/π̄) = (−1/4, 1/3, 1/2), KL_old = (1/5, 1/7, 1/3), "
        "Δ = (3/7, −1, 1/2), τ = 2/5, ε = 1/10",
    )
    return psi, lold, klold, delta, witness


def _argmin(residuals, u):
    loss = sp.Add(*[r**2 / 2 for r in residuals])
    return sp.solve(sp.diff(loss, u), u)[0]


def _natural_step(psi, lold, klold, delta, step):
    """step · F̂⁻¹ĝ with ĝ from (70) at θ_old: targets b_t = Δ_t − τ(ℓ_old − KL_old)."""
    b = [d - TAU * (lo - ko) for d, lo, ko in zip(delta, lold, klold)]
    return step * sp.Add(*[p * bt for p, bt in zip(psi, b)]) / sp.Add(*[p**2 for p in psi])


@check("eq070_to_eq071_printed", kind="symbolic", equations=(70, 71))
def eq070_to_eq071_printed() -> CheckResult:
    """(71) as printed (log(π_θ/π̄) at the current θ in the bracket): its minimiser vs the natural
    step ε F̂⁻¹ĝ of (70)."""
    psi, lold, klold, delta, witness = _one_dim_scores()
    u = sp.Symbol("u", real=True)
    # linearised: log π_θ − log π_θold = ψ_t u, so log(π_θ/π̄) = ℓ_old + ψ_t u
    residuals = [
        p * u - EPS * (d - TAU * ((lo + p * u) - ko)) for p, lo, ko, d in zip(psi, lold, klold, delta)
    ]
    printed = _argmin(residuals, u)
    natural = _natural_step(psi, lold, klold, delta, EPS)
    result = decide(
        printed,
        natural,
        witness,
        statement="argmin of the printed (71) = natural gradient step εF̂⁻¹ĝ",
        wrong=0,
    )
    if result.outcome != "fail":
        return result
    ratio = sp.cancel(printed / natural)
    first_order = sp.diff(printed - natural, EPS).xreplace({EPS: 0})
    if sp.cancel(ratio - 1 / (1 + EPS * TAU)) != 0 or sp.cancel(first_order) != 0:
        raise ArithmeticError(f"unexpected ratio {ratio} / first-order term {first_order}")
    return failed(
        result.detail + "; the printed minimiser is exactly 1/(1 + ετ) times the natural step, so the two "
        "agree to first order in ε (they differ at O(ε²))",
        result.counterexample,
        **result.measurements,
    )


@check("eq070_to_eq071_corrected", kind="symbolic", equations=(70, 71))
def eq070_to_eq071_corrected() -> CheckResult:
    """(71) with log(π_θold/π̄) in the bracket: its linearised minimiser is exactly the natural step εF̂⁻¹ĝ."""
    psi, lold, klold, delta, witness = _one_dim_scores()
    u = sp.Symbol("u", real=True)
    residuals = [p * u - EPS * (d - TAU * (lo - ko)) for p, lo, ko, d in zip(psi, lold, klold, delta)]
    wrong_res = [p * u - EPS * d for p, d in zip(psi, delta)]
    return decide(
        _argmin(residuals, u),
        _natural_step(psi, lold, klold, delta, EPS),
        witness,
        statement="argmin of corrected (71) = εF̂⁻¹ĝ",
        wrong=_argmin(wrong_res, u),
        wrong_label="the unregularised step (68)",
    )


# --------------------------------------------------------------------------- (72)-(73)


@check("eq072_printed_arity", kind="symbolic", equations=(55, 72))
def eq072_printed_arity() -> CheckResult:
    """(72) as printed, with V_θ(s_t, a_t) read literally as a function of the state and the
    action, against ½(Q_θ − y_t)² with Q_θ = V_θ(s_t) + τℓ_θ of (57).

    The two sides agree exactly when V_θ(s_t, a) = V_θ(s_t) for every a (the corrected form,
    ``eq072_corrected``); for a V_θ(s_t, ·) that varies with the action — the witness gives it its own
    values per action — the printed form fails with a counterexample."""
    from ..models import bandit

    b = bandit(2)
    v_sa = sp.symbols("V_theta_sa0 V_theta_sa1", real=True)  # V_θ(s_t, a) per action a
    vold, klold = sp.symbols("V_old KL_old", real=True)
    witness = Witness(
        {**b.witness.values, vold: R(1, 3), klold: R(1, 5), v_sa[0]: R(2, 7), v_sa[1]: R(-3, 4)},
        b.witness.label + ", V_θold = 1/3, KL_old = 1/5, V_θ(s_t, ·) = (2/7, −3/4)",
    )
    results = []
    for i in range(2):
        y = vold + b.tau * klold + b.delta[i]
        lhs = (b.qf[i] - y) ** 2 / 2
        printed = ((v_sa[i] + b.tau * b.log_ratio[i]) - y) ** 2 / 2
        results.append(
            decide(
                b.stage1(lhs), b.stage1(printed), witness, statement=f"(72) as printed, action {i} (k=2)"
            )
        )
    return decide_all(results)


@check("eq072_corrected", kind="symbolic", equations=(47, 57, 72))
def eq072_corrected() -> CheckResult:
    """½(Q_θ − y_t)² = ½((V_θ(s_t) + τℓ_θ) − (V_θold(s_t) + τKL_old + Δ_t))² with Q_θ by (57), y_t by
    (47) (Q̄ = Q_θold)."""
    from ..models import bandit

    results = []
    for k in (2, 3):
        b = bandit(k)
        vold, klold = sp.symbols("V_old KL_old", real=True)
        witness = Witness(
            {**b.witness.values, vold: R(1, 3), klold: R(1, 5)},
            b.witness.label + ", V_θold = 1/3, KL_old = 1/5",
        )
        for i in range(k):
            y = vold + b.tau * klold + b.delta[i]
            lhs = (b.qf[i] - y) ** 2 / 2
            rhs = ((b.v + b.tau * b.log_ratio[i]) - y) ** 2 / 2
            wrong = ((b.v + b.log_ratio[i]) - y) ** 2 / 2
            results.append(
                decide(
                    b.stage1(lhs),
                    b.stage1(rhs),
                    witness,
                    statement=f"corrected (72), action {i} (k={k})",
                    control=(k == 2 and i == 0),
                    wrong=b.stage1(wrong),
                    wrong_label="log-ratio without τ",
                )
            )
    return decide_all(results)


@check("eq072_to_eq073", kind="symbolic", equations=(72, 73))
def eq072_to_eq073() -> CheckResult:
    """With V_θ = V_θold: ½((V + τℓ_θ) − (V + τKL_old + Δ))² = ½(τℓ_θ − (Δ + τKL_old))²."""
    lhs = ((V + TAU * L) - (V + TAU * KLOLD + DELTA)) ** 2 / 2
    rhs = (TAU * L - (DELTA + TAU * KLOLD)) ** 2 / 2
    return decide(
        lhs,
        rhs,
        WITNESS,
        statement="(72) = (73)",
        wrong=(L - (DELTA + TAU * KLOLD)) ** 2 / 2,
        wrong_label="ℓ_θ without τ",
    )


def _target_of_73():
    x = sp.Symbol("x", real=True)  # x = log π_θ(a_t|s_t), the regressed quantity
    loss = (TAU * (x - LOGPIBAR) - (DELTA + TAU * KLOLD)) ** 2 / 2
    return sp.solve(sp.diff(loss, x), x)[0]


@check("text5_regression_target_printed", kind="symbolic", equations=(73,))
def text5_regression_target_printed() -> CheckResult:
    """The text after (73): (73) regresses log π_θ(a_t|s_t) towards log π_θold(a_t|s_t) + Δ_t/τ +
    KL[π_θold, π̄](s_t)."""
    log_piold = LOLD + LOGPIBAR
    return decide(
        _target_of_73(),
        log_piold + DELTA / TAU + KLOLD,
        WITNESS,
        statement="the minimiser of (73) in log π_θ(a_t|s_t) = log π_θold + Δ_t/τ + KL_old",
        wrong=0,
    )


@check("text5_regression_target_corrected", kind="symbolic", equations=(73,))
def text5_regression_target_corrected() -> CheckResult:
    """(73) regresses log π_θ(a_t|s_t) towards log π̄(a_t|s_t) + Δ_t/τ + KL[π_θold, π̄](s_t)."""
    log_piold = LOLD + LOGPIBAR
    return decide(
        _target_of_73(),
        LOGPIBAR + DELTA / TAU + KLOLD,
        WITNESS,
        statement="the minimiser of (73) in log π_θ(a_t|s_t) = log π̄ + Δ_t/τ + KL_old",
        wrong=log_piold + DELTA / TAU + KLOLD,
        wrong_label="the printed target log π_θold + Δ_t/τ + KL_old",
    )


def _npg_residual(step):
    """Corrected (71) residual: log π_θ − log π_θold − step·(Δ − τ[ℓ_old − KL_old])."""
    return (L - LOLD) - step * (DELTA - TAU * (LOLD - KLOLD))


@check("text5_undamped_vs_natural", kind="symbolic", equations=(71, 73))
def text5_undamped_vs_natural() -> CheckResult:
    """'(73) is not equivalent to the natural policy gradient loss': residual(71, ε) − residual(73)/τ
    = (1/τ − ε)·b_t."""
    residual73 = TAU * L - (DELTA + TAU * KLOLD)
    b_t = DELTA - TAU * (LOLD - KLOLD)
    difference = _npg_residual(EPS) - residual73 / TAU
    identity = decide(
        difference,
        (1 / TAU - EPS) * b_t,
        WITNESS,
        statement="residual(corrected 71) − residual(73)/τ = (1/τ − ε)(Δ_t − τ[ℓ_old − KL_old])",
        wrong=(difference, 0),
        wrong_label="claiming the residuals coincide at ε = 1/10",
    )
    if identity.outcome != "pass":
        return identity
    return extended(
        identity, "; so (73) differs from the natural-gradient loss (71) for every step size "
        "ε ≠ 1/τ, and coincides exactly with it (up to the factor τ²) at ε = 1/τ — the undamped "
        "regression is a natural-gradient step of the fixed size 1/τ",
    )


# --------------------------------------------------------------------------- (74)-(78)


QOLD = V + TAU * LOLD  # Q_θold(s_t,a_t) by (57), V_θold = V_θ
QHAT = V + TAU * KLOLD + DELTA  # Q̂_t = y_t of (47) with Q̄ = Q_θold
Q_THETA = V + TAU * L  # Q_θ(s_t,a_t) by (57)


def _eq74():
    return (1 - EPS) * QOLD + EPS * QHAT


@check("eq074_to_eq075", kind="symbolic", equations=(74, 75))
def eq074_to_eq075() -> CheckResult:
    """(1 − ε)Q_θold + εQ̂_t = Q_θold + ε(Q̂_t − Q_θold)."""
    return decide(
        _eq74(),
        QOLD + EPS * (QHAT - QOLD),
        WITNESS,
        statement="(74) = (75)",
        wrong=QOLD + EPS * (QHAT + QOLD),
        wrong_label="sign of Q_θold inside",
    )


# The lines of the printed block as rebuilt from the raw extraction (see the notes of eq074-eq078 in
# proofs/claims.py): line 2 and 3, and the brace line, whose label (76) or (77) is not settled.


@check("eq074_eq078_rebuilt_lines_2_3", kind="symbolic", equations=(57, 75, 76))
def eq074_eq078_rebuilt_lines_2_3() -> CheckResult:
    """Rebuilt printed lines 2-3: Q̂_t − Q_θold(s_t,a_t) = (V_θ + τKL_old + Δ_t) − (V_θold + τ log(π_θold/π̄))
    = Δ_t + τ[KL_old − log(π_θold/π̄)] (V_θ = V_θold, Q_θold by (57))."""
    line2 = (V + TAU * KLOLD + DELTA) - (V + TAU * LOLD)
    line3 = DELTA + TAU * (KLOLD - LOLD)
    return decide_all(
        [
            decide(
                QHAT - QOLD,
                line2,
                WITNESS,
                statement="rebuilt line 2: Q̂_t − Q_θold = (V_θ + τKL_old + Δ_t) − (V_θold + τℓ_old)",
                wrong=line2 + TAU * LOLD - LOLD,
                wrong_label="Q_θold written V_θold + ℓ_old (no τ)",
            ),
            decide(
                line2, line3, WITNESS, statement="rebuilt line 3: = Δ_t + τ[KL_old − ℓ_old]", control=False
            ),
        ]
    )


@check("eq074_eq078_rebuilt_brace_line", kind="symbolic", equations=(57, 74, 76, 77))
def eq074_eq078_rebuilt_brace_line() -> CheckResult:
    """Rebuilt printed brace line: Q_θ − Q̂^ε_t = V_θ + log(π_θ/π̄) − {V_θold + log(π_θold/π̄) +
    ε(Δ_t + τ[KL_old − log(π_θold/π̄)])}, against Q_θ − Q̂^ε_t with Q_θ, Q_θold by (57), Q̂^ε by (74)."""
    printed = (V + L) - (V + LOLD + EPS * (DELTA + TAU * (KLOLD - LOLD)))
    return decide(
        Q_THETA - _eq74(), printed, WITNESS, statement="the printed brace line of (74)-(78)", wrong=0
    )


def _eq76(tau_on_log):
    c = TAU if tau_on_log else 1
    return (V + c * LOLD) + EPS * ((V + TAU * KLOLD + DELTA) - (V + TAU * LOLD))


@check("eq076_printed", kind="symbolic", equations=(57, 75, 76))
def eq076_printed() -> CheckResult:
    """(76) as printed, Q_θold written V_θ + log(π_θold/π̄), against (75) with Q_θold = V_θ + τ
    log(π_θold/π̄)."""
    return decide(_eq74(), _eq76(False), WITNESS, statement="(75) = printed (76)", wrong=0)


@check("eq076_corrected", kind="symbolic", equations=(57, 75, 76))
def eq076_corrected() -> CheckResult:
    """(76) with τ log(π_θold/π̄) in the first term equals (75)."""
    return decide(
        _eq74(),
        _eq76(True),
        WITNESS,
        statement="(75) = corrected (76)",
        wrong=_eq76(False),
        wrong_label="the printed (76)",
    )


def _eq77(tau_on_log):
    c = TAU if tau_on_log else 1
    return V + c * LOLD + EPS * (DELTA + TAU * (KLOLD - LOLD))


@check("eq076_to_eq077_algebra", kind="symbolic", equations=(76, 77))
def eq076_to_eq077_algebra() -> CheckResult:
    """The algebra from (76) to (77) (both as printed; V_θ = V_θold) is right: the error is inherited
    from (76)."""
    return decide(
        _eq76(False),
        _eq77(False),
        WITNESS,
        statement="printed (76) = printed (77)",
        wrong=_eq77(False) + EPS * TAU * KLOLD,
        wrong_label="KL_old counted twice",
    )


@check("eq077_printed", kind="symbolic", equations=(74, 77))
def eq077_printed() -> CheckResult:
    """(77) as printed against Q̂^ε_t of (74)."""
    return decide(_eq74(), _eq77(False), WITNESS, statement="(74) = printed (77)", wrong=0)


@check("eq077_corrected", kind="symbolic", equations=(74, 77))
def eq077_corrected() -> CheckResult:
    """Q̂^ε_t = V_θ + τ log(π_θold/π̄) + ε(Δ_t + τ[KL_old − log(π_θold/π̄)])."""
    return decide(
        _eq74(),
        _eq77(True),
        WITNESS,
        statement="(74) = corrected (77)",
        wrong=_eq77(False),
        wrong_label="the printed (77)",
    )


def _eq78_printed():
    return (L - LOLD) - EPS * (DELTA - TAU * (LOLD - KLOLD))


def _eq78_corrected():
    return TAU * (L - LOLD) - EPS * (DELTA - TAU * (LOLD - KLOLD))


@check("eq078_printed", kind="symbolic", equations=(57, 74, 78))
def eq078_printed() -> CheckResult:
    """(78) as printed: Q_θ − Q̂^ε_t = log π_θ − log π_θold − ε(Δ_t − τ[log(π_θold/π̄) − KL_old])."""
    return decide(Q_THETA - _eq74(), _eq78_printed(), WITNESS, statement="Q_θ − Q̂^ε = printed (78)", wrong=0)


@check("eq078_corrected", kind="symbolic", equations=(57, 74, 78))
def eq078_corrected() -> CheckResult:
    """Q_θ − Q̂^ε_t = τ(log π_θ − log π_θold) − ε(Δ_t − τ[log(π_θold/π̄) − KL_old])."""
    return decide(
        Q_THETA - _eq74(),
        _eq78_corrected(),
        WITNESS,
        statement="Q_θ − Q̂^ε = corrected (78)",
        wrong=_eq78_printed(),
        wrong_label="the printed (78)",
    )


@check("text5_damped_natural_printed", kind="symbolic", equations=(71, 78))
def text5_damped_natural_printed() -> CheckResult:
    """'(78) exactly matches the expression in the least squares problem (71)' (both as printed)."""
    printed71 = (L - LOLD) - EPS * (DELTA - TAU * (L - KLOLD))  # log(π_θ/π̄) in the bracket
    return decide(
        _eq78_printed(), printed71, WITNESS, statement="printed (78) = printed (71) residual", wrong=0
    )


@check("text5_damped_natural_corrected", kind="symbolic", equations=(71, 74, 78))
def text5_damped_natural_corrected() -> CheckResult:
    """Q_θ − Q̂^ε_t = τ × residual of corrected (71) with step ε/τ; so damped Q-learning = natural
    step of size ε/τ."""
    results = [
        decide(
            Q_THETA - _eq74(),
            TAU * _npg_residual(EPS / TAU),
            WITNESS,
            statement="Q_θ − Q̂^ε = τ·[(71) residual with ε → ε/τ]",
            wrong=TAU * _npg_residual(EPS),
            wrong_label="the same step size ε",
        )
    ]
    # linearised minimiser of Σ ½(Q_θ − Q̂^ε)² = natural gradient step of size ε/τ
    psi, lold, klold, delta, witness = _one_dim_scores()
    u = sp.Symbol("u", real=True)
    residuals = [TAU * p * u - EPS * (d - TAU * (lo - ko)) for p, lo, ko, d in zip(psi, lold, klold, delta)]
    results.append(
        decide(
            _argmin(residuals, u),
            _natural_step(psi, lold, klold, delta, EPS / TAU),
            witness,
            statement="argmin of the linearised damped Q loss = (ε/τ)F̂⁻¹ĝ",
            wrong=_natural_step(psi, lold, klold, delta, EPS),
            wrong_label="step ε",
        )
    )
    return decide_all(results)
