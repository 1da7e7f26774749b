package dev.keel.eval;

import java.util.List;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.keel.train.SettingsJson;

/** {@code results.json}: every number of every seed, and the summary over seeds the report shows. */
final class ReportJson {
    private static final ObjectMapper JSON = new ObjectMapper();

    private ReportJson() {}

    static ObjectNode of(List<SentimentExperiment.Results> runs, Summary summary, String command) {
        ObjectNode o = JSON.createObjectNode();
        o.put("command", command);
        o.set("config", SettingsJson.of(runs.get(0).config()));
        o.put("seeds", runs.size());
        o.set("summary", summary(summary));
        ArrayNode rs = o.putArray("runs");
        runs.forEach(r -> rs.add(run(r)));
        return o;
    }

    private static ObjectNode summary(Summary s) {
        ObjectNode o = JSON.createObjectNode();
        o.set("reward_model_heldout_accuracy", mean(s.rmAccuracy()));
        ArrayNode ms = o.putArray("methods");
        for (Summary.Row r : s.rows()) {
            ObjectNode n = ms.addObject();
            n.put("name", r.name()).put("family", r.family().label()).put("setting", r.setting());
            n.set("gold_reward", mean(r.gold()));
            n.set("kl_to_sft", mean(r.kl()));
            n.set("win_rate_vs_sft", mean(r.winRate()));
            n.set("seconds", mean(r.seconds()));
            r.pairAccuracy().ifPresent(a -> n.set("heldout_pair_accuracy", mean(a)));
            ArrayNode path = n.putArray("path");
            for (Summary.PathMean p : r.path()) {
                ObjectNode q = path.addObject().put("fraction", p.fraction());
                q.set("kl", mean(p.kl()));
                q.set("gold", mean(p.gold()));
            }
        }
        ArrayNode vs = o.putArray("verdicts");
        for (Summary.Verdict v : s.verdicts()) {
            ObjectNode n = vs.addObject().put("kl_from", v.klLow()).put("outcome", v.outcome());
            if (Double.isFinite(v.klHigh())) {
                n.put("kl_to", v.klHigh());
            }
            v.bestDpo().ifPresent(p -> n.put("dpo", v.dpoName()).set("dpo_gold", mean(p.gold())));
            v.bestPpo().ifPresent(p -> n.put("ppo", v.ppoName()).set("ppo_gold", mean(p.gold())));
        }
        return o;
    }

    private static ObjectNode run(SentimentExperiment.Results r) {
        ObjectNode o = JSON.createObjectNode();
        o.put("seed", r.config().seed());
        ObjectNode acc = o.putObject("reward_model_heldout_accuracy");
        acc.put("value", r.rmHeldOutAccuracy().value()).put("low", r.rmHeldOutAccuracy().low())
                .put("high", r.rmHeldOutAccuracy().high()).put("pairs", r.rmHeldOutAccuracy().n());
        o.put("preference_pairs", r.pairs());
        o.put("ties_left_out", r.ties());
        o.put("eval_prompts", r.evalPromptTexts().size());
        o.put("total_seconds", r.totalSeconds());
        ArrayNode ms = o.putArray("methods");
        for (SentimentExperiment.MethodResult m : r.methods()) {
            ObjectNode n = ms.addObject();
            n.put("name", m.name()).put("family", m.family().label()).put("setting", m.setting());
            n.put("gold_reward", m.eval().goldReward()).put("gold_reward_std", m.eval().goldStd());
            n.put("kl_to_sft", m.eval().kl()).put("win_rate_vs_sft", m.eval().winRate());
            m.heldOutPairAccuracy().ifPresent(a -> n.putObject("heldout_pair_accuracy").put("value", a.value())
                    .put("low", a.low()).put("high", a.high()).put("pairs", a.n()));
            n.putPOJO("cost", m.cost());
            ArrayNode path = n.putArray("path");
            m.path().forEach(p -> path.addObject().put("fraction", p.fraction()).put("kl", p.kl()).put("gold", p.gold()));
            ArrayNode curve = n.putArray("curve");
            m.curve().forEach(curve::addPOJO);
            ArrayNode samples = n.putArray("samples");
            for (int i = 0; i < Math.min(12, m.eval().samples().texts().size()); i++) {
                samples.addObject().put("prompt", r.evalPromptTexts().get(i))
                        .put("completion", m.eval().samples().texts().get(i))
                        .put("gold", m.eval().samples().gold()[i]);
            }
        }
        return o;
    }

    /** A mean and its interval; the half-width is null with one seed. */
    private static ObjectNode mean(Intervals.Mean m) {
        ObjectNode o = JSON.createObjectNode().put("mean", m.mean()).put("n", m.n());
        if (Double.isNaN(m.halfWidth())) {
            o.putNull("half_width");
        } else {
            o.put("half_width", m.halfWidth()).put("low", m.low()).put("high", m.high());
        }
        return o;
    }
}
