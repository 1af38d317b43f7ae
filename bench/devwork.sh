#!/bin/sh
# The developer workload: git operations plus compiling a small generated C project.
#   devwork.sh DIR NFILES
# Runs as the workload user (tether-workload -u USER ... run sh devwork.sh ...).
set -eu
dir=$1
n=${2:-200}
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
rm -rf "$dir"
mkdir -p "$dir/src"
cd "$dir"
git init -q -b main .

# generate: n small translation units, a header, main.c, a Makefile
i=0
{ echo '#pragma once'; while [ $i -lt "$n" ]; do echo "int f$i(int x);"; i=$((i + 1)); done; } > src/gen.h
i=0
while [ $i -lt "$n" ]; do
    cat > src/f$i.c <<C
#include "gen.h"
static int table$i[64];
int f$i(int x) {
    for (int k = 0; k < 64; k++) table$i[k] = (x + k) * $i;
    int s = 0;
    for (int k = 0; k < 64; k++) s += table$i[k] % (k + 3);
    return s;
}
C
    i=$((i + 1))
done
{ echo '#include <stdio.h>'; echo '#include "gen.h"'; echo 'int main(void) { long s = 0;'
  i=0; while [ $i -lt "$n" ]; do echo "  s += f$i($i);"; i=$((i + 1)); done
  echo '  printf("%ld\\n", s); return 0; }'; } > src/main.c
cat > Makefile <<'M'
SRCS := $(wildcard src/*.c)
OBJS := $(SRCS:.c=.o)
app: $(OBJS)
	$(CC) -o $@ $(OBJS)
%.o: %.c src/gen.h
	$(CC) -O1 -c -o $@ $<
clean:
	rm -f app $(OBJS)
M
printf 'app\n*.o\n' > .gitignore

git add -A
git commit -q -m "generated project"
make -s -j2
./app > /dev/null
# an edit cycle: change a few files, look at the change, commit, rebuild, inspect history
for k in 1 2 3 4 5; do sed -i "s/(k + 3)/(k + 5)/" src/f$k.c; done
git status --short > /dev/null
git diff --stat > /dev/null
git commit -q -a -m "tweak"
make -s -j2
./app > /dev/null
git log --oneline > /dev/null
git grep -q "f1(" -- src
git checkout -q -b topic
git stash list > /dev/null
