"""The def-use facts of each cell of a history."""

from __future__ import annotations

from nbtrack.exporting.defuse import analyze_history


def test_facts_of_each_cell():
    facts = analyze_history(
        [
            "import pandas as pd\nPATH = 'data/in.csv'",
            "df = pd.read_csv(PATH)",
            "def fit(d):\n    d.sort_values('a', inplace=True)\n    return model.score(d)",
            "score = fit(df)",
            None,
        ]
    )
    assert facts[0].kills == {"pd", "PATH"} and facts[0].imports == {"pandas"}
    assert facts[1].uses >= {"pd", "PATH", "file:data/in.csv"} and facts[1].file_reads == {"data/in.csv"}
    assert facts[1].binding_files["df"] == {"data/in.csv"}
    assert facts[2].deferred["fit"] >= {"model"}
    assert "df" in facts[3].defines  # fit() mutates its argument
    assert not facts[4].valid
