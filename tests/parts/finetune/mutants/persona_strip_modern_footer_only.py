"""strip_gutenberg knows only the modern '*** END OF THE PROJECT GUTENBERG EBOOK' footer, not the older 'End of the Project Gutenberg EBook of ...' line."""

MODULE = "persona"
CAUGHT_BY = ["finetune/strip_gutenberg"]
PATCH = [
    ('    r"^.*\\*\\*\\*\\s*END OF (?:THE|THIS) PROJECT GUTENBERG.*$"\n'
     '    r"|^\\s*End of (?:the )?Project Gutenberg(?:\'s|’s)?\\b.*$",\n',
     '    r"^.*\\*\\*\\*\\s*END OF (?:THE|THIS) PROJECT GUTENBERG.*$",\n'),
]
