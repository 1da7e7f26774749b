package dev.keel.data;

import java.util.ArrayList;
import java.util.List;

/** Repeating items, as sampling k completions per prompt needs. */
public final class Repeat {
    private Repeat() {}

    /** Each item k times in a row, prompt-major: a, a, b, b for (a, b) and k = 2. */
    public static <T> List<T> each(List<T> items, int k) {
        if (k < 1) {
            throw new IllegalArgumentException("repeat count must be at least 1, got " + k);
        }
        List<T> out = new ArrayList<>(items.size() * k);
        for (T item : items) {
            for (int j = 0; j < k; j++) {
                out.add(item);
            }
        }
        return out;
    }
}
