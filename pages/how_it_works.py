"""How it works: the method on one page, with links into the Train page's lesson presets."""

from pathlib import Path

import pandas as pd
import streamlit as st

from dann_demo.experiments.claims import claim_text
from dann_demo.views import plots
from pages.server import require_navigation

ARCHITECTURE = Path(__file__).resolve().parents[1] / "assets" / "architecture.svg"

# JMLR 2016, Table 2, MNIST -> MNIST-M: target accuracy.
PAPER_MNIST_M = pd.DataFrame(
    {
        "trained on": [
            "source only (MNIST labels)",
            "DANN (MNIST labels + unlabelled MNIST-M)",
            "train on target (MNIST-M labels)",
        ],
        "MNIST-M accuracy": [0.5225, 0.7666, 0.9596],
    }
)


def lesson_links(*presets: tuple[str, str]) -> None:
    """One-click lessons, (preset id, label): each opens Train live with the preset's settings (?preset=id)."""
    st.markdown("**Try it** on the Train page:")
    for preset, label in presets:
        st.page_link("pages/train.py", label=label, icon=":material/play_lesson:", query_params={"preset": preset})


require_navigation()
st.title("How it works")
st.markdown(
    "A **domain-adversarial network** (DANN; Ganin & Lempitsky, ICML 2015; Ganin et al., JMLR 2016) learns "
    "from labelled **source** data and unlabelled **target** data. It is trained to do two things at once: "
    "classify the source well, and compute features from which no classifier can tell source from target. "
    "A label classifier that works on such features works on the target too. Target labels are never used "
    "for training (only to report target accuracy)."
)

st.header("The network")
st.image(
    str(ARCHITECTURE),
    width="stretch",
    caption="Forward pass: solid arrows. Backward pass: dashed arrows. The gradient reversal layer (GRL) "
    "passes features through unchanged and multiplies the domain classifier's gradient by −λ on its way "
    "back into the feature extractor.",
)

st.header("The objective: a minimax game")
st.markdown("With $n$ labelled source examples and $n'$ unlabelled target examples, the paper's objective is")
st.latex(
    r"E(\theta_f,\theta_y,\theta_d) = \frac{1}{n}\sum_{i=1}^{n} L_y^i(\theta_f,\theta_y)"
    r" - \lambda\Big(\frac{1}{n}\sum_{i=1}^{n} L_d^i(\theta_f,\theta_d)"
    r" + \frac{1}{n'}\sum_{i=n+1}^{n+n'} L_d^i(\theta_f,\theta_d)\Big)"
)
st.latex(
    r"(\hat\theta_f,\hat\theta_y) = \arg\min_{\theta_f,\theta_y} E(\theta_f,\theta_y,\hat\theta_d),"
    r"\qquad \hat\theta_d = \arg\max_{\theta_d} E(\hat\theta_f,\hat\theta_y,\theta_d)"
)
st.markdown(
    "The domain classifier $G_d$ maximises $E$, that is, it minimises its own loss $L_d$: it tries to tell "
    "the domains apart. The feature extractor $G_f$ and the label classifier $G_y$ minimise $E$: a low label "
    "loss $L_y$ *and* a high domain loss. **λ** sets how much the second goal weighs."
)

st.header("The gradient reversal layer")
st.markdown(
    "The GRL makes the saddle point trainable with plain backpropagation. It is the identity going "
    "forward and multiplies the gradient by −λ going back:"
)
st.latex(r"R_\lambda(\mathbf{x}) = \mathbf{x} \qquad\qquad \frac{dR_\lambda}{d\mathbf{x}} = -\lambda\,\mathbf{I}")
st.markdown("So one SGD step on $L_y + L_d$, with the GRL between $G_f$ and $G_d$, updates")
st.latex(
    r"\theta_f \leftarrow \theta_f - \mu\Big(\frac{\partial L_y}{\partial\theta_f}"
    r" - \lambda\frac{\partial L_d}{\partial\theta_f}\Big),\qquad"
    r"\theta_y \leftarrow \theta_y - \mu\frac{\partial L_y}{\partial\theta_y},\qquad"
    r"\theta_d \leftarrow \theta_d - \mu\frac{\partial L_d}{\partial\theta_d}"
)
st.markdown(
    "λ appears only in the GRL: the domain classifier itself learns at the normal rate, and the feature "
    "extractor receives its gradient turned around. Without the minus sign (the **no reversal** ablation) the "
    "feature extractor would *help* the domain classifier."
)

st.header("The schedules")
st.markdown(
    "Training progress $p$ runs from 0 to 1. λ starts at 0, so the early, random features are not pushed "
    "around, and rises toward 1; the learning rate decays. In the app, λ's ceiling (the λ slider) scales "
    "the schedule."
)
st.latex(
    r"\lambda_p = \frac{2}{1+\exp(-\gamma p)} - 1 \qquad\qquad \mu_p = \frac{\mu_0}{(1+\alpha p)^{\beta}}"
    r"\qquad (\gamma = 10,\ \mu_0 = 0.01,\ \alpha = 10,\ \beta = 0.75)"
)
left, right = st.columns(2)
gamma = left.slider("γ (how fast λ rises)", 0.0, 50.0, 10.0, 0.5, key="how_gamma")
alpha = right.slider("α (how fast the learning rate decays)", 0.0, 50.0, 10.0, 0.5, key="how_alpha")
st.plotly_chart(plots.paper_schedules_figure(gamma=gamma, alpha=alpha), key="how_schedules")
st.caption(
    "Solid black: your γ and α. Dashed grey: the paper's, when yours differ. γ = 0 keeps λ at 0, which is "
    "training on the source only. " + claim_text("mild_decay_still_adapts")
)
lesson_links(("lambda_zero", "λ = 0 is source only"), ("paper_schedule", "the paper's schedule"))

st.header("Why a domain loss near ln 2 means the adversary is beaten")
st.markdown(
    "The domain classifier outputs $q$, its probability that an example is from the target. Its loss is the "
    "binary cross-entropy (the app's curve shows it per example: the objective above adds a source mean and a "
    "target mean, twice this). A classifier that cannot tell the domains apart does best with $q = 1/2$ for "
    "every example, and then"
)
st.latex(r"L_d = -\big[d\ln q + (1-d)\ln(1-q)\big]_{q=1/2} = \ln 2 \approx 0.693")
st.markdown(
    "whatever the domain label $d$. So a domain loss that climbs to 0.693 and stays there, with the domain "
    "accuracy at 50%, is what DANN is aiming for: the domain classifier is **guessing**. It is not a bug, and "
    "it is not a classifier that failed to train: it is still training, every step, and losing.\n\n"
    "It says that **this** adversary is beaten where it stands, not that the features carry no trace of the "
    "domain. A fresh classifier trained after the run on the same features may still find it; the summary of "
    "every run shows one (the *fresh probe*) beside the domain classifier's accuracy and the proxy A-distance. "
    + claim_text("lambda_eight_beaten_but_seen")
)

st.header("Why the domain classifier can also win")
st.markdown(
    "When the domain loss falls toward 0 and domain accuracy toward 100%, the features still say which "
    "domain an example came from, and the label classifier learned on the source may fail on the target:\n"
    "- **λ too small** (or rising too late): the reversed gradient is too weak to move the features; λ = 0 is "
    "exactly training on the source only.\n"
    "- **Features too weak, or the domain head too strong**: a small feature extractor cannot find features "
    "that both classify and hide the domain.\n"
    "- **Learning rate**: too high and the game oscillates or diverges; too low, or decaying too fast, and "
    "training stops before the features align. Too short a run does the same.\n\n"
    "Too *large* a λ fails differently: the domain classifier is beaten, but the features were pushed around "
    "before they learnt the classes, and the *transfer* suffers, not the source: "
    + claim_text("lambda_eight_beaten_but_seen")
    + "\n\nThe **no reversal** ablation trains the same network without the minus sign. "
    + claim_text("no_reversal_domain_wins")
    + " "
    + claim_text("no_reversal_does_not_adapt_moons")
    + " "
    + claim_text("no_reversal_hurts_digits")
)
lesson_links(("no_reversal", "no reversal: the domain classifier wins"), ("lambda_too_large", "λ too large"))

st.header("What the proxy A-distance measures")
st.markdown(
    "Take the trained feature extractor's features of held-out source and target examples. Train a linear "
    "SVM to tell source from target on half of each domain, and measure its error $\\varepsilon$ on the other "
    "half. The proxy A-distance (Ben-David et al.; used in the JMLR paper) is"
)
st.latex(r"\mathrm{PAD} = 2\,(1 - 2\varepsilon)")
st.markdown(
    "PAD near 2: a straight line separates the domains ($\\varepsilon \\approx 0$). PAD near 0: the SVM "
    "is at chance ($\\varepsilon \\approx 0.5$), the features do not show the domain. An error a little above "
    "0.5 happens by chance on a finite test half and would make PAD negative, which means no more than "
    '"indistinguishable": the app **clips PAD at 0**. PAD sees only what a *linear* classifier sees, and '
    "nothing about the classes: features can hide the domain and still be useless for labels, which is why "
    "the label loss is half of the objective. A larger gap between the domains (a larger rotation of the "
    "target moons) raises PAD before adaptation and gives DANN more to do."
)
lesson_links(("rotation_harder", "rotation makes it harder"), ("rotation_ambiguous", "35°: the seed decides the match"))

st.header("The paper's numbers: MNIST → MNIST-M")
st.markdown(
    "MNIST-M blends each MNIST digit over a random patch of a colour photo. Target (MNIST-M) accuracy from "
    "the JMLR paper's Table 2:"
)
st.dataframe(
    PAPER_MNIST_M,
    hide_index=True,
    width="content",
    column_config={"MNIST-M accuracy": st.column_config.NumberColumn(format="%.4f")},
)
st.markdown(
    "DANN closes (0.7666 − 0.5225) / (0.9596 − 0.5225) = **56%** of the gap between training on the source "
    "only and training on labelled target data, without a single target label. Public re-implementations "
    "report between about 0.72 and 0.84. The app's *digits → digits-M* is a small stand-in built from "
    "scikit-learn's 8×8 digits and nine photos: its numbers are not the paper's, but the order (source only "
    "< DANN < target oracle) is the one to look for. " + claim_text("digits_dann_wins")
)
