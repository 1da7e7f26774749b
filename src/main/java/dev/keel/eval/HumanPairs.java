package dev.keel.eval;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import dev.keel.data.Ids;
import dev.keel.data.PreferencePair;
import dev.keel.reward.RewardSource;
import dev.keel.tokenizer.Tokenizer;

/**
 * Off-policy preference pairs for the out-of-distribution question (Xu et al. 2024): both completions written
 * by people, not sampled from the policy. For a review sentence A cut after its first n tokens, one completion is
 * the rest of A and the other the rest of another sentence B after its own first n tokens; the gold reward picks
 * the chosen one, and pairs within the tie margin are left out, as for the sampled pairs.
 */
final class HumanPairs {
    private HumanPairs() {}

    /**
     * @param sentences training review sentences (never the held-out ones)
     * @param count     pairs wanted (as many as the on-policy data has)
     */
    static List<PreferencePair> of(List<String> sentences, Tokenizer tok, RewardSource gold, int count, int maxNewTokens,
                                   double minMargin, long seed) {
        Random r = new Random(seed + 1);
        int bos = tok.bosId() != null ? 1 : 0;
        long eos = tok.eosId();
        List<long[]> prompts = new ArrayList<>();
        List<long[]> first = new ArrayList<>();
        List<long[]> second = new ArrayList<>();
        // as many passes over the sentences as it takes, each a fresh shuffle paired neighbour with neighbour
        for (int pass = 0; pass < 32 && prompts.size() < 2 * count; pass++) {
            List<String> order = new ArrayList<>(sentences);
            Collections.shuffle(order, new Random(seed + 7919L * pass));
            for (int i = 0; i + 1 < order.size() && prompts.size() < 2 * count; i += 2) {
                long[] a = tok.encode(order.get(i), true);
                long[] b = tok.encode(order.get(i + 1), true);
                int n = 2 + r.nextInt(7);
                if (a.length - bos <= n + 1 || b.length - bos <= n + 1) {
                    continue;
                }
                prompts.add(Arrays.copyOf(a, bos + n));
                first.add(ending(a, bos + n, maxNewTokens, eos));
                second.add(ending(b, bos + n, maxNewTokens, eos));
            }
        }
        List<String> none = Collections.nCopies(prompts.size(), "");
        double[] ga = gold.score(none, first.stream().map(t -> tok.decode(t, true)).toList());
        double[] gb = gold.score(none, second.stream().map(t -> tok.decode(t, true)).toList());
        List<PreferencePair> out = new ArrayList<>();
        for (int i = 0; i < prompts.size() && out.size() < count; i++) {
            double d = ga[i] - gb[i];
            if (Math.abs(d) > 0 && Math.abs(d) >= minMargin) {
                out.add(new PreferencePair(i, prompts.get(i), d > 0 ? first.get(i) : second.get(i),
                        d > 0 ? second.get(i) : first.get(i), 0));
            }
        }
        return out;
    }

    /** The sentence's tokens from {@code from} on, at most {@code max}, with EOS when the sentence ends within. */
    private static long[] ending(long[] ids, int from, int max, long eos) {
        int n = Math.min(max, ids.length - from);
        long[] rest = Arrays.copyOfRange(ids, from, from + n);
        return from + n == ids.length && n < max ? Ids.concat(rest, new long[] {eos}) : rest;
    }
}
