package dev.panpipe.testing;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Function;

/**
 * Checks a property on many generated cases, reproducibly, and shrinks a failing case before reporting it:
 * the few lines of property-based testing the corruption and model tests need. Shared with the other
 * modules' tests through this module's test jar, which holds this package only.
 *
 * <p>Each run draws a fresh base seed (or takes {@code -Dpanpipe.seed=N}); case {@code i} is generated from
 * {@code new Random(seed + i)}, so the report's seed and case number rebuild the failing case exactly. A
 * failing case is shrunk greedily: the first smaller candidate that still fails replaces it, until none does
 * (bounded), so the report shows a minimal case next to the original.
 *
 * <p>Why not a library: jqwik was tried and dropped. From 1.10 it carries an "anti-AI usage clause" (its
 * author does not want it used by AI coding agents, which write much of this project's code) and prints an
 * instruction aimed at such agents into every test report. Jazzer runs only saved inputs under plain JUnit
 * (its random exploration needs a separate fuzzing mode, one test per JVM).
 */
public final class RandomCases {
    private static final int MAX_SHRINK_ATTEMPTS = 2_000;

    /** A check of one case: throws (an assertion, or whatever the code under test threw) if it fails. */
    @FunctionalInterface
    public interface Check<T> {
        void accept(T value) throws Exception;
    }

    private RandomCases() {
    }

    /**
     * Runs {@code check} on {@code count} cases made by {@code generate}; on the first failure, shrinks it with
     * {@code shrink} (candidates smaller than a case, best first) and throws an AssertionError naming the
     * property, the seed, the case, its shrunk form, and the shrunk case's failure as the cause.
     */
    public static <T> void check(String property, int count, Function<Random, T> generate, Function<T, List<T>> shrink, Check<T> check) {
        long seed = Long.getLong("panpipe.seed", new Random().nextLong());
        for (int i = 0; i < count; i++) {
            T value = generate.apply(new Random(seed + i));
            Throwable failure = failure(check, value);
            if (failure == null) continue;
            T smallest = value;
            int attempts = 0;
            boolean smaller = true;
            while (smaller && attempts < MAX_SHRINK_ATTEMPTS) {
                smaller = false;
                for (T candidate : shrink.apply(smallest)) {
                    if (++attempts > MAX_SHRINK_ATTEMPTS) break;
                    Throwable f = failure(check, candidate);
                    if (f != null) {
                        smallest = candidate;
                        failure = f;
                        smaller = true;
                        break;
                    }
                }
            }
            throw new AssertionError(property + " failed on case " + i + " of -Dpanpipe.seed=" + seed + "\n  shrunk to: " + smallest
                    + "\n  generated: " + value + "\n  failure: " + failure, failure);
        }
    }

    private static <T> Throwable failure(Check<T> check, T value) {
        try {
            check.accept(value);
            return null;
        } catch (Exception | AssertionError e) {
            return e;
        }
    }

    /**
     * Values simpler than {@code v}, for shrinking a case, simplest first: 0, 1, -1, {@code v} cut to a byte, a
     * short and an int, and half of it. Only those strictly simpler are given (0 before 1 before -1 before
     * the rest, those by magnitude), so a shrink cannot go round in a circle, as "0, 1, -1 or half, whichever
     * is nearer 0, and -1 always" did between 0 and -1.
     */
    public static List<Long> simpler(long v) {
        List<Long> out = new ArrayList<>();
        for (long c : new long[]{0, 1, -1, (byte) v, (short) v, (int) v, v / 2}) {
            if (isSimpler(c, v) && !out.contains(c)) out.add(c);
        }
        return out;
    }

    private static boolean isSimpler(long a, long b) {
        int ra = a == 0 ? 0 : a == 1 ? 1 : a == -1 ? 2 : 3, rb = b == 0 ? 0 : b == 1 ? 1 : b == -1 ? 2 : 3;
        return ra != rb ? ra < rb : Long.compareUnsigned(Math.abs(a), Math.abs(b)) < 0;
    }

    /**
     * {@code list} without one run of its elements, for shrinking a sequence, shortest first: without each half,
     * then each quarter, and so on down to each single element; never empty.
     */
    public static <E> List<List<E>> withoutRuns(List<E> list) {
        List<List<E>> out = new ArrayList<>();
        for (int run = list.size() / 2; run >= 1; run /= 2) {
            for (int from = 0; from + run <= list.size(); from += run) {
                List<E> fewer = new ArrayList<>(list.subList(0, from));
                fewer.addAll(list.subList(from + run, list.size()));
                if (!fewer.isEmpty()) out.add(List.copyOf(fewer));
            }
        }
        return out;
    }

    /** An index drawn with the given weights: index i with probability weights[i] / their sum. */
    public static int weighted(Random r, int... weights) {
        int total = 0;
        for (int w : weights) total += w;
        int pick = r.nextInt(total), i = 0;
        while (pick >= weights[i]) pick -= weights[i++];
        return i;
    }

    /** A value that is often one of the edge cases corrupt fields are made of, else any long. */
    public static long edgyLong(Random r, long... edges) {
        return switch (r.nextInt(4)) {
            case 0 -> r.nextLong();
            case 1 -> r.nextInt(74) - 3;   // small counts, positions and codes
            case 2 -> new long[]{0, 1, -1, Long.MIN_VALUE, Long.MAX_VALUE, Integer.MIN_VALUE, Integer.MAX_VALUE,
                    1L << 31, 1L << 32, (1L << 32) - 1}[r.nextInt(10)];
            default -> edges.length == 0 ? r.nextLong() : edges[r.nextInt(edges.length)];
        };
    }
}
