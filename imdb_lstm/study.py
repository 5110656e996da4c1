"""The original study this package implements (an LSTM over GloVe in Keras): its results table and its example
review, kept here so that the reproduction script, the CLI's `--example` and the tests share one copy."""

# The study's example: a review excerpt it classified, `[...]` marks included (they are the study's own). Its
# network printed p(negative) = 0.9620251, p(positive) = 0.03797485: "Negative Sentiment!".
EXAMPLE_REVIEW = (
    "[...]There are sequences in this movie that simply do not need to exist and provide literally nothing to the "
    "story. [...] All that said, the special effects look and sound great, and it was fun to see Mark Hamill acting "
    "again. Other than that this movie is a disgrace not just to the franchise but to anyone with a brain. Stupid, "
    "stupid, stupid."
)
EXAMPLE_STUDY_P_NEGATIVE = 0.9620251

# Its table (IMDB's 50,000 labelled reviews pooled and re-split train/validation/test in %), keyed by
# (protocol, epochs): accuracy, TPR, TNR, FNR, FPR. Its accuracy lies outside [TNR, TPR] in every row, so the
# rates and the accuracy cannot all come from one confusion matrix.
STUDY_RATES = ("accuracy", "tpr", "tnr", "fnr", "fpr")
STUDY_TABLE = {
    ("50/25/25", 2): (0.8487, 0.8174, 0.8024, 0.1826, 0.1976),
    ("50/25/25", 4): (0.8243, 0.8159, 0.8130, 0.1841, 0.1870),
    ("50/0/50", 2): (0.8146, 0.8294, 0.8302, 0.1706, 0.1698),
    ("50/0/50", 4): (0.8310, 0.8451, 0.8453, 0.1549, 0.1547),
}
