package dev.keel.data;

import java.util.Arrays;

/** Small operations on token-id arrays. */
public final class Ids {
    private Ids() {}

    public static long[] concat(long[] a, long[] b) {
        long[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    /** An array of {@code n} ones (a mask that keeps everything). */
    public static long[] ones(int n) {
        long[] a = new long[n];
        Arrays.fill(a, 1);
        return a;
    }
}
