# SPDX-License-Identifier: LGPL-2.1-or-later
# fills msgstr in a merged .po from dicts (one JSON file per component:
# es-translations.json for the host, es-translations-<plugin>.json for each
# plugin); untranslated entries stay empty
import re, sys, json
src, out, trfiles = sys.argv[1], sys.argv[2], sys.argv[3:]
tr = {}
for trfile in trfiles:
    tr.update(json.load(open(trfile, encoding='utf-8')))
text = open(src, encoding='utf-8').read()
blocks = text.split('\n\n')
res = []
missing = []
def unq(lines):
    return ''.join(json.loads(l) if l.startswith('"') else '' for l in lines)
def q(s):
    return json.dumps(s, ensure_ascii=False)
for b in blocks:
    lines = b.split('\n')
    try:
        i = next(k for k, l in enumerate(lines) if l.startswith('msgid '))
    except StopIteration:
        res.append(b); continue
    j = next(k for k, l in enumerate(lines) if l.startswith('msgstr '))
    msgid = unq([lines[i][6:]] + lines[i+1:j])
    if msgid == '':
        res.append(b); continue
    head = [l for l in lines[:i] if not l.startswith('#, fuzzy')]
    if msgid not in tr:
        missing.append(msgid)
        res.append('\n'.join(head + lines[i:j] + ['msgstr ""'])); continue
    res.append('\n'.join(head + lines[i:j] + ['msgstr ' + q(tr[msgid])]))
open(out, 'w', encoding='utf-8').write('\n\n'.join(res))
for m in missing:
    print('MISSING:', m)
