"""Result files a user can keep: their typed schema (`schema`) and atomic writing (`io`)."""
