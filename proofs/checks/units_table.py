"""Dimensional analysis of every numbered equation, as printed and (where corrected) as corrected.

Each entry is a list of equations, each equation a list of sides written in
the skeleton language of :mod:`proofs.units` (structure as printed; E(·) is an
expectation or a sum over actions/time, grad(·) is ∇_θ).  A check
``units_eqNNN`` is registered per entry; it passes when every side of every
equation is homogeneous and the sides agree.  The paper says τ is kept "so
that our calculations are checkable through dimensional analysis" — this is
that check.
"""

from __future__ import annotations

from ..core import CheckResult, check, failed, passed
from ..units import check_homogeneous

# equation → list of equations (lists of sides), as printed
PRINTED: dict[int, list[list[str]]] = {
    1: [["eta", "E(r) - tau*KL"]],
    2: [["piB", "pibar*exp(rbar/tau)/E(exp(rbar/tau))"]],
    3: [["KL", "E(log(pi) - log(piB))"]],
    4: [["KL", "E(log(pi) - log(pibar) - rbar/tau + log(E(exp(rbar/tau))))"]],
    5: [["KL", "KL - E(rbar/tau) + log(E(exp(rbar/tau)))"]],
    6: [["E(rbar) - tau*KL", "tau*log(E(exp(rbar/tau))) - tau*KL"]],
    7: [["grad(eta)", "E(grad(log(pi))*r - tau*grad(KL))"]],
    8: [["L", "E((q - r)**2)/2"]],
    9: [["grad(L)", "E(grad(q)*(q - r))"]],
    10: [["piB", "pibar*exp(q/tau)/E(exp(q/tau))"]],
    11: [["v", "tau*log(E(exp(q)/tau))"]],
    12: [["piB", "pibar*exp((q - v)/tau)"]],
    13: [["v", "E(q) - tau*KL"]],
    14: [["q", "v + tau*log(piB/pibar)"]],
    15: [["grad(L)", "E(grad(q)*(q - r))"]],
    16: [["grad(L)", "E(grad(v + tau*log(piB/pibar))*(v + tau*log(piB/pibar) - r))"]],
    17: [
        [
            "grad(L)",
            "E(tau*grad(log(piB))*(v + tau*log(piB/pibar) - r) + grad(v)*(v + tau*log(piB/pibar) - r))",
        ]
    ],
    18: [["grad(KL)", "grad(E(piB*log(piB/pibar)))"]],
    19: [["grad(KL)", "E(grad(piB)*(log(piB/pibar) + piB*(1/piB)))"]],
    20: [["grad(KL)", "E(piB*grad(log(piB))*log(piB/pibar))"]],
    21: [["grad(KL)", "E(grad(log(piB))*log(piB/pibar))"]],
    22: [["grad(L)", "E(tau*grad(log(piB))*(v - r) + tau**2*grad(KL) + grad(v)*(v + tau*KL - r))"]],
    23: [["grad(L)", "-tau*grad(E(r - tau*KL)) + grad(E((v - (r - tau*KL))**2/2))"]],
    24: [["V", "E(gamma**t*(r - tau*KL))"]],
    25: [["Q", "E(r + gamma**t*(r - tau*KL))"]],
    26: [["V", "E(Q) - tau*KL"]],
    27: [["E(Q) - tau*KL"]],
    28: [["piB", "pibar*exp(Q/tau)/E(exp(Q/tau))"]],
    29: [["V", "tau*log(E(exp(Q/tau)))"]],
    30: [["piB", "pibar*exp((Q - V)/tau)"]],
    31: [["V", "E(Q) - tau*KL"]],
    32: [["piB/pibar", "exp(A/tau)"], ["A", "Q - V"]],
    33: [["V", "E(r - tau*KL + gamma*V)"], ["Q", "E(r + gamma*(E(Q) - tau*KL))"]],
    34: [["V", "E(gamma**t*(r - tau*KL) + gamma**n*V)"]],
    35: [["Q - tau*KL", "E(gamma**t*(r - tau*KL) + gamma**n*(Q - tau*KL))"]],
    36: [["delta", "(r - tau*KL) + gamma*V - V"]],
    37: [["V", "E(gamma**t*delta + gamma**n*V)"]],
    38: [["Q", "E(r + gamma*(E(Q) - tau*KL))"]],
    39: [["Q", "E(r + gamma*tau*log(E(exp(Q/tau))))"]],
    40: [["Q - tau*KL", "E(gamma**t*(r - tau*KL) + gamma**n*(Q - tau*KL))"]],
    41: [["Q - tau*KL", "E(gamma**t*(r - tau*KL) + gamma**n*V)"]],
    42: [["Q", "(1 - lam)*E(lam**n*Q)"]],
    43: [["Q", "Q + E((gamma*lam)**t*delta)"], ["delta", "(r - tau*KL) + gamma*V - V"]],
    44: [["L", "E((Q - y)**2/2)"]],
    45: [["y", "r + gamma*V"]],
    46: [["y", "tau*KL + E(gamma**d*(r - tau*KL)) + gamma**n*V"]],
    47: [["y", "tau*KL + V + E(gamma**d*delta)"]],
    48: [["g", "E(grad(log(pi))*E(r) - tau*grad(KL))"]],
    49: [["g", "E(grad(log(pi))*(r + E(gamma**d*(r - tau*KL))) - tau*grad(KL))"]],
    50: [["g", "E(grad(log(pi))*(Q - V) - tau*grad(KL))"]],
    51: [["g", "grad(E(r - tau*KL))"]],
    52: [["g", "E(grad(log(pi))*E(gamma**d*delta))"]],
    53: [["L", "E((V - y)**2/2)"]],
    54: [["y", "E(gamma**d*r) + gamma**d*V", "V + E(gamma**d*delta)"]],
    55: [["V", "tau*log(E(exp(Q/tau)))"]],
    56: [["pi", "pibar*exp((Q - V)/tau)"]],
    57: [["Q", "V + tau*log(pi/pibar)"]],
    58: [["Delta", "E(gamma**d*delta)"]],
    59: [["grad(L)", "grad(E((Q - y)**2/2))"]],
    60: [["grad(L)", "E(grad(Q)*(Q - y))"]],
    61: [["grad(L)", "E(grad(Q)*(tau*log(pi/pibar) + V - (V + tau*KL + Delta)))"]],
    62: [["grad(L)", "E(grad(Q)*(tau*log(pi/pibar) - tau*KL - Delta))"]],
    63: [["grad(L)", "E((tau*grad(log(pi)) + grad(V))*(tau*log(pi/pibar) - tau*KL - Delta))"]],
    64: [
        [
            "grad(L)",
            "E(tau**2*grad(log(pi))*log(pi/pibar) - tau**2*grad(log(pi))*KL - tau*grad(log(pi))*Delta"
            " + tau*grad(V)*log(pi/pibar) - tau*grad(V)*KL - grad(V)*Delta)",
            "E(tau**2*grad(KL) - tau*grad(log(pi))*Delta - grad(V)*Delta)",
        ]
    ],
    65: [["grad(L)", "E(-tau*grad(log(pi))*Delta + tau**2*grad(KL) + grad((V - Vhat)**2/2))"]],
    66: [["(Psi*w - epsn*Delta)**2/2"]],
    67: [["log(pi) - log(piold)", "grad(log(pi))*eps*w"]],
    68: [["(log(pi) - log(piold) - epsn*Delta)**2/2"]],
    69: [["g", "E(grad(log(pi))*Delta - tau*grad(KL))"]],
    70: [["g", "E(grad(log(pi))*(Delta - tau*(log(pi/pibar) - KL)))"]],
    71: [["(log(pi) - log(piold) - epsn*(Delta - tau*(log(pi/pibar) - KLold)))**2/2"]],
    72: [["(Q - y)**2/2", "((V_(s, a) + tau*log(pi/pibar)) - (Vold + tau*KLold + Delta))**2/2"]],
    73: [["(Q - y)**2/2", "(tau*log(pi/pibar) - (Delta + tau*KLold))**2/2"]],
    74: [["Qeps", "(1 - eps)*Qold + eps*Qhat"]],
    75: [["Qeps", "Qold + eps*(Qhat - Qold)"]],
    76: [["Qeps", "(V + log(piold/pibar)) + eps*((V + tau*KLold + Delta) - (Vold + tau*log(piold/pibar)))"]],
    77: [["Qeps", "V + log(piold/pibar) + eps*(Delta + tau*(KLold - log(piold/pibar)))"]],
    78: [["Q - Qeps", "log(pi) - log(piold) - eps*(Delta - tau*(log(piold/pibar) - KLold))"]],
    79: [["g", "grad(log(pi))*(E(gamma**d*r) - V) - tau*grad(KL)"]],
    80: [["g", "grad(log(pi))*(E(gamma**d*(r - tau*KL)) - V) - tau*grad(KL)"]],
    81: [["y", "r + gamma*MAX(Q)"]],
    82: [["y", "r + gamma*log(E(exp(Q/tau))) - log(nA)"]],
    83: [["y", "r + gamma*log(E(exp(Q/tau)))"]],
    84: [["-log(pi)*Delta + tau*KL"]],
    85: [["(V - Vhat)**2/2"]],
    86: [["-log(pi)*Delta + tau*KL + cval*(V - Vhat)**2/2"]],
    87: [["Q", "V + tau*(log(pi) + tau*S)"]],
    88: [["E(gamma**t*A)", "E(gamma**t*(r + gamma*V - V))", "E(gamma**t*r) + gamma**n*V - V"]],
    89: [["tau*(log(pi) - log(pibar))", "A"]],
    90: [["E(gamma**t*tau*(log(pi) - log(pibar)))", "E(gamma**t*r) + gamma**n*V - V"]],
}

# corrected forms of the equations whose printed form is not homogeneous
CORRECTED: dict[int, list[list[str]]] = {
    11: [["v", "tau*log(E(exp(q/tau)))"]],
    76: [
        ["Qeps", "(V + tau*log(piold/pibar)) + eps*((V + tau*KLold + Delta) - (Vold + tau*log(piold/pibar)))"]
    ],
    77: [["Qeps", "V + tau*log(piold/pibar) + eps*(Delta + tau*(KLold - log(piold/pibar)))"]],
    78: [["Q - Qeps", "tau*(log(pi) - log(piold)) - eps*(Delta - tau*(log(piold/pibar) - KLold))"]],
    82: [["y", "r + gamma*tau*log(E(exp(Q/tau))) - gamma*tau*log(nA)"]],
    83: [["y", "r + gamma*tau*log(E(exp(Q/tau)))"]],
    87: [["Q", "V + tau*(log(pi) + S)"]],
}

# text claims with a dimensional content
TEXT: dict[str, tuple[list[list[str]], list[list[str]] | None]] = {
    # §6.3: the scaled soft-Q gradient into the advantage stream must have the units of ∇L_policy
    "text6_3_scaling": (
        [["grad(log(pi))*Delta", "(1/gamma)*(Q - y)*tau*grad(log(pi))"]],
        [["grad(log(pi))*Delta", "(1/tau)*(Q - y)*tau*grad(log(pi))"]],
    ),
    # §5: θ − θ_old = εw with w = ε(ΨᵀΨ)⁻¹ΨᵀΔ of (66): θ is dimensionless
    "text5_update": (
        [["theta", "epsn*(epsn*Delta/psi)"]],
        [["theta", "epsn*Delta/psi"]],
    ),
}


def _decide(name: str, equations: list[list[str]]) -> CheckResult:
    for sides in equations:
        ok, message = check_homogeneous(sides)
        if not ok:
            return failed(
                f"{name} is not dimensionally homogeneous (τ, r, Q, V carry the reward unit U)", message
            )
    return passed(f"{name}: dimensionally consistent ({message})")


def _register(check_id: str, name: str, equations: list[list[str]], eqs: tuple[int, ...]) -> None:
    @check(check_id, kind="units", equations=eqs, title=f"dimensional analysis of {name}")
    def run() -> CheckResult:
        return _decide(name, equations)


for _eq, _equations in PRINTED.items():
    _register(f"units_eq{_eq:03d}", f"Eq. ({_eq}) as printed", _equations, (_eq,))
for _eq, _equations in CORRECTED.items():
    _register(f"units_eq{_eq:03d}_corrected", f"Eq. ({_eq}) corrected", _equations, (_eq,))
_register(
    "units_text6_3_scaling", "the §6.3 advantage-stream scale 1/γ", TEXT["text6_3_scaling"][0], (84, 86)
)
_register(
    "units_text6_3_scaling_corrected", "the advantage-stream scale 1/τ", TEXT["text6_3_scaling"][1], (84, 86)
)
_register(
    "units_text5_update", "the update θ − θ_old = εw with w from (66)", TEXT["text5_update"][0], (66, 67)
)
_register("units_text5_update_corrected", "the update θ − θ_old = w", TEXT["text5_update"][1], (66, 67))
