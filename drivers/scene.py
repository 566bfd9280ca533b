"""MitoScene: a 2-D scene of mitochondria that move, bend, split, fuse and bleach.

The scene is the *object* (fluorophore density) at high resolution (~50 nm pixels),
before any optics. `drivers.confocal` turns it into the HR ground truth and the
undersampled LR confocal scan.

Model
-----
Every mitochondrion is a chain of control points (spacing ~0.4 um) carrying a width
(diameter, 4-14 HR px = 0.2-0.7 um) and a brightness. Chains may be *pinned*: the head
of a branch sits on a point of another chain, which makes branched networks. A
connected set of chains is one mitochondrion (one "object").

Per frame (`step`):
- directed transport: each object has a velocity that follows an Ornstein-Uhlenbeck
  process (smooth paths); a minority is motile (~0.7 px/frame at speed 1), the rest
  jiggles slowly; plus a tiny per-point random motion.
- bending: temporally correlated random forces on control points, a curvature
  smoothing term and distance constraints (position-based dynamics) keep tubules
  smooth and of constant length.
- fission: with probability `fission_rate` per object, an interior segment is cut
  (or a branch detaches); the two pieces get a small kick apart and their new tips a
  refractory period.
- fusion: free tips of different objects within `fusion_distance_px` join tip to tip
  (or, less often, tip to side, forming a branch); tips within 3x that distance
  attract each other slightly, which is what keeps fission and fusion in balance.
- bleaching: brightness decays by ~`bleach_per_frame` (varied per object); content
  mixes slowly along fused tubules.
- objects that leave the field re-enter from the opposite side (density stays).

Rendering (`render`) samples every segment densely on a Catmull-Rom spline (along)
and across its width with the projected density of a filled cylinder (rounded end
caps), and splats the samples bilinearly with one `np.bincount`. No blur is applied:
the optics (PSF) live in `drivers.confocal`. Intensity scale is fixed: a tubule of
brightness b has peak object value b, and brightness is log-normal with its ~98th
percentile at 1.0 (so "brightest tubules ~1.0", independent of the field size).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

__all__ = ["MitoScene", "SceneSettings"]

# Geometry and dynamics constants (HR pixels / frames at speed 1).
_SEG_PX = 8.0  # control-point spacing (0.4 um at 50 nm)
_N_ALONG = 10  # samples per segment along the spline (0.8 px)
_N_ACROSS = 12  # samples across the width (<= 1.2 px apart at 14 px width)
_MIN_W, _MAX_W = 4.0, 14.0  # tubule diameter range, px
_MIN_LEN, _MAX_LEN = 20.0, 200.0  # initial chain length range, px (1-10 um)
_OBJ_PER_UM2 = 0.05  # objects per um^2 at density 1
_VEL_AR = 0.98  # velocity autocorrelation per frame (smooth transport paths)
_V_MOTILE, _V_STILL = 0.7, 0.04  # stationary velocity std, px/frame
_MOTILE_FRACTION = 0.25
_JITTER_PX = 0.04  # per-point random motion, px/frame
_BEND_AR, _BEND_PX = 0.9, 0.035  # bending force autocorrelation and amplitude
_SMOOTH = 0.05  # curvature smoothing per frame
_COOLDOWN = 40  # frames a fresh fission tip cannot fuse
_KICK_PX = 0.25  # fission products separate at this speed, px/frame
_SIDE_FUSION_P = 0.1  # probability per frame that a tip close to a side pins to it


@dataclass
class SceneSettings:
    """Scene parameters (HR pixels, frames)."""

    hr_shape: tuple[int, int] = (512, 512)
    pixel_nm: float = 50.0
    density: float = 1.0  # relative structure density (objects scale with area*density)
    speed: float = 1.0  # relative motion speed
    fission_rate: float = 0.01  # per mitochondrion per frame
    fusion_distance_px: float = 6.0
    bleach_per_frame: float = 0.001
    brightness_spread: float = 0.5  # log-normal sigma of per-mitochondrion brightness
    seed: int = 0


class MitoScene:
    """Mitochondria as pinned chains of control points; see the module docstring."""

    def __init__(self, settings: SceneSettings) -> None:
        self.settings = settings
        self.rng = np.random.default_rng(settings.seed)
        self.frame = 0
        self.n_fissions = 0
        self.n_fusions = 0
        # Pixel scale: geometry constants are in HR px at 50 nm; other pixel sizes
        # scale them so that physical sizes stay the same.
        self._px = 50.0 / float(settings.pixel_nm)
        self._dirty = True
        self._labels = np.zeros(0, np.int64)
        self._n_obj = 0
        self._seg_i = np.zeros(0, np.int64)
        self._acc: np.ndarray | None = None  # reused splat buffer
        self._build()

    # ------------------------------------------------------------------ set-up

    def _build(self) -> None:
        """Create the initial mitochondria: single tubules and small branched networks."""
        s, rng = self.settings, self.rng
        h, w = s.hr_shape
        px_um = s.pixel_nm / 1000.0
        area_um2 = h * w * px_um * px_um
        n_obj = max(1, round(rng.poisson(s.density * area_um2 * _OBJ_PER_UM2)))
        pos: list[np.ndarray] = []
        prv: list[np.ndarray] = []
        nxt: list[np.ndarray] = []
        pin: list[np.ndarray] = []
        width: list[np.ndarray] = []
        bright: list[np.ndarray] = []
        vel: list[np.ndarray] = []
        mot: list[np.ndarray] = []
        bleach: list[np.ndarray] = []
        n = 0
        margin = 20.0 * self._px

        def add_chain(p: np.ndarray, head_pin: int) -> int:
            nonlocal n
            k = len(p)
            idx = np.arange(n, n + k)
            pos.append(p)
            prv.append(np.where(idx > n, idx - 1, -1))
            nxt.append(np.where(idx < n + k - 1, idx + 1, -1))
            pn = np.full(k, -1)
            pn[0] = head_pin
            pin.append(pn)
            n += k
            return int(idx[0])

        for _ in range(n_obj):
            start = n
            centre = rng.uniform([-margin, -margin], [h + margin, w + margin])
            length = np.exp(rng.uniform(np.log(_MIN_LEN), np.log(_MAX_LEN))) * self._px
            theta = rng.uniform(0, 2 * np.pi)
            main = self._random_chain(centre, theta, length)
            main -= main.mean(axis=0) - centre
            add_chain(main, -1)
            # ~30% of the longer ones become small networks (1-3 branches)
            if len(main) >= 6 and rng.random() < 0.3:
                for _b in range(int(rng.integers(1, 4))):
                    j = int(rng.integers(2, len(main) - 2))
                    tang = main[j + 1] - main[j - 1]
                    ang = np.arctan2(tang[0], tang[1]) + rng.choice([-1, 1]) * rng.uniform(0.9, 2.2)
                    blen = np.exp(rng.uniform(np.log(_MIN_LEN), np.log(_MAX_LEN / 2))) * self._px
                    br = self._random_chain(main[j], ang, blen)
                    add_chain(br, start + j)
            k = n - start
            wd = np.clip(np.exp(rng.normal(np.log(8.0), 0.3)), _MIN_W, _MAX_W) * self._px
            width.append(np.full(k, wd))
            sig = s.brightness_spread
            bright.append(np.full(k, np.exp(rng.normal(0.0, sig) - 2.0 * sig)))
            m = float(rng.random() < _MOTILE_FRACTION)
            v = rng.normal(0.0, m * _V_MOTILE + (1 - m) * _V_STILL, 2) * self._px
            vel.append(np.tile(v, (k, 1)))
            mot.append(np.full(k, m))
            bleach.append(np.full(k, np.exp(rng.normal(0.0, 0.25))))

        self.pos = np.concatenate(pos).astype(np.float64)
        self.prv = np.concatenate(prv).astype(np.int64)
        self.nxt = np.concatenate(nxt).astype(np.int64)
        self.pin = np.concatenate(pin).astype(np.int64)
        self.width = np.concatenate(width)
        self.bright = np.concatenate(bright)
        self.vel = np.concatenate(vel)
        self.motility = np.concatenate(mot)
        self.bleach = np.concatenate(bleach)
        p = len(self.pos)
        self.rest = np.full(p, _SEG_PX * self._px)
        self.bend = np.zeros((p, 2))
        self.cooldown = np.zeros(p, np.int64)
        self._refresh()

    def _random_chain(self, start: np.ndarray, theta: float, length: float) -> np.ndarray:
        """Control points of a smoothly curved chain starting at `start`."""
        seg = _SEG_PX * self._px
        k = max(3, round(length / seg) + 1)
        turns = np.cumsum(self.rng.normal(0.0, 0.12, k - 1))
        ang = theta + turns
        steps = seg * np.stack([np.sin(ang), np.cos(ang)], axis=1)
        return np.concatenate([start[None], start[None] + np.cumsum(steps, axis=0)])

    # ------------------------------------------------------------------ topology

    def _refresh(self) -> None:
        """Recompute segments and object labels after a topology change."""
        if not self._dirty:
            return
        p = len(self.pos)
        self._seg_i = np.flatnonzero(self.nxt >= 0)
        pinned = np.flatnonzero(self.pin >= 0)
        rows = np.concatenate([self._seg_i, pinned])
        cols = np.concatenate([self.nxt[self._seg_i], self.pin[pinned]])
        graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(p, p))
        self._n_obj, labels = connected_components(graph, directed=False)
        self._labels = labels.astype(np.int64)
        self._dirty = False

    @property
    def n_mitochondria(self) -> int:
        """Number of separate mitochondria (connected networks count as one)."""
        self._refresh()
        return int(self._n_obj)

    def _chain(self, i: int) -> np.ndarray:
        """Point indices of the chain through point `i`, head first."""
        while self.prv[i] >= 0:
            i = int(self.prv[i])
        out = [i]
        while self.nxt[i] >= 0:
            i = int(self.nxt[i])
            out.append(i)
        return np.asarray(out)

    def _reverse(self, i: int) -> bool:
        """Reverse the chain through `i` (head <-> tail); refused if its head is pinned."""
        ch = self._chain(i)
        if self.pin[ch[0]] >= 0:
            return False
        rest = self.rest[ch[:-1]].copy()
        old_prv = self.prv[ch].copy()
        self.prv[ch] = self.nxt[ch]
        self.nxt[ch] = old_prv
        self.rest[ch[1:]] = rest
        self.rest[ch[0]] = _SEG_PX * self._px
        self._dirty = True  # segment list changes direction
        return True

    def polylines(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Every chain as (control points (n, 2) y/x in HR px, widths (n,), brightness (n,))."""
        heads = np.flatnonzero(self.prv < 0)
        out = []
        for hd in heads:
            ch = self._chain(int(hd))
            out.append((self.pos[ch].copy(), self.width[ch].copy(), self.bright[ch].copy()))
        return out

    def check(self) -> None:
        """Raise AssertionError if the chain/pin structure is inconsistent (for tests)."""
        p = len(self.pos)
        i = np.flatnonzero(self.nxt >= 0)
        assert np.all(self.prv[self.nxt[i]] == i), "nxt/prv mismatch"
        i = np.flatnonzero(self.prv >= 0)
        assert np.all(self.nxt[self.prv[i]] == i), "prv/nxt mismatch"
        pinned = self.pin >= 0
        assert np.all(self.prv[pinned] < 0), "pinned point is not a chain head"
        seen = np.zeros(p, bool)
        for hd in np.flatnonzero(self.prv < 0):
            ch = self._chain(int(hd))
            assert len(ch) >= 2 and not seen[ch].any(), "chain too short or shared"
            seen[ch] = True
        assert seen.all(), "points in a cycle"
        assert np.isfinite(self.pos).all() and (self.width > 0).all()

    # ------------------------------------------------------------------ dynamics

    def step(self) -> None:
        """Advance the scene by one frame."""
        s, rng = self.settings, self.rng
        self._refresh()
        self.frame += 1
        p = len(self.pos)
        lab, k = self._labels, self._n_obj
        spd = s.speed

        # Directed transport: object velocity = mean of its points, OU update.
        cnt = np.bincount(lab, minlength=k)
        v = (
            np.stack(
                [np.bincount(lab, self.vel[:, 0], k), np.bincount(lab, self.vel[:, 1], k)], axis=1
            )
            / cnt[:, None]
        )
        m = np.bincount(lab, self.motility, k) / cnt
        sd = (m * _V_MOTILE + (1 - m) * _V_STILL) * self._px
        v = _VEL_AR * v + np.sqrt(1 - _VEL_AR**2) * sd[:, None] * rng.normal(size=(k, 2))
        self.vel = v[lab]
        self.pos += spd * (self.vel + _JITTER_PX * self._px * rng.normal(size=(p, 2)))

        # Bending: correlated random forces, then curvature smoothing.
        self.bend = _BEND_AR * self.bend + np.sqrt(1 - _BEND_AR**2) * rng.normal(size=(p, 2))
        self.pos += spd * _BEND_PX * self._px * self.bend
        inner = np.flatnonzero((self.prv >= 0) & (self.nxt >= 0))
        mid = 0.5 * (self.pos[self.prv[inner]] + self.pos[self.nxt[inner]])
        self.pos[inner] += _SMOOTH * (mid - self.pos[inner])

        self._fusion()
        self._fission()
        self._constrain()
        self._photophysics()
        self._wrap()
        np.maximum(self.cooldown - 1, 0, out=self.cooldown)

    def _free_tips(self) -> np.ndarray:
        """Chain ends that may fuse: tails and unpinned heads, not refractory."""
        tip = ((self.nxt < 0) | ((self.prv < 0) & (self.pin < 0))) & (self.cooldown == 0)
        return np.flatnonzero(tip)

    def _fusion(self) -> None:
        """Tips of different mitochondria attract when near and fuse when close."""
        s = self.settings
        fd = s.fusion_distance_px * self._px
        tips = self._free_tips()
        if fd <= 0 or len(tips) < 2:
            return
        lab = self._labels
        tp = self.pos[tips]
        pairs = cKDTree(tp).query_pairs(3 * fd, output_type="ndarray").reshape(-1, 2)
        ii, jj = pairs[:, 0], pairs[:, 1]
        keep = lab[tips[ii]] != lab[tips[jj]]
        ii, jj = ii[keep], jj[keep]
        vec = tp[jj] - tp[ii]
        dist = np.sqrt((vec * vec).sum(1))
        # Attraction within 3x the fusion distance: near foreign tips pull on each other.
        pull = np.minimum(0.15 * self._px * s.speed, 0.25 * dist) / np.maximum(dist, 1e-9)
        np.add.at(self.pos, tips[ii], vec * pull[:, None])
        np.add.at(self.pos, tips[jj], -vec * pull[:, None])
        close = dist < fd
        ii, jj, dist = ii[close], jj[close], dist[close]
        # Tip-to-tip fusion, closest pairs first.
        touched: set[int] = set()
        for q in np.argsort(dist):
            a, b = int(tips[ii[q]]), int(tips[jj[q]])
            la, lb = int(lab[a]), int(lab[b])
            if la in touched or lb in touched:
                continue
            if self._join(a, b):
                touched.update((la, lb))
        # Tip-to-side fusion (forms branches), rarer.
        if not touched:
            self._side_fusion(tips, fd)

    def _join(self, a: int, b: int) -> bool:
        """Join tip `a` to tip `b` with a new segment (reversing a chain if needed)."""
        if self.nxt[a] >= 0 and not self._reverse(a):  # make `a` a tail
            return False
        if self.prv[b] >= 0 and not self._reverse(b):  # make `b` a head
            return False
        if self.nxt[a] >= 0 or self.prv[b] >= 0 or self.pin[b] >= 0:
            return False
        self.nxt[a] = b
        self.prv[b] = a
        self.rest[a] = _SEG_PX * self._px
        self.n_fusions += 1
        self._dirty = True
        return True

    def _side_fusion(self, tips: np.ndarray, fd: float) -> None:
        """A free tip close to the side of another mitochondrion pins to it (branch)."""
        if self.rng.random() > _SIDE_FUSION_P:  # drawn first: same odds, 10x less work
            return
        lab = self._labels
        d, pj = cKDTree(self.pos).query(self.pos[tips], k=8, distance_upper_bound=0.5 * fd)
        found = np.isfinite(d)
        pjc = np.where(found, pj, 0)
        ok = found & (lab[pjc] != lab[tips][:, None]) & (self.pin[pjc] < 0)  # not onto a root
        ti, kk = np.nonzero(ok)
        if len(ti) == 0:
            return
        q = int(np.argmin(d[ti, kk]))
        a, c = int(tips[ti[q]]), int(pj[ti[q], kk[q]])
        if self.prv[a] >= 0 and not self._reverse(a):  # make `a` a head
            return
        if self.prv[a] >= 0 or self.pin[a] >= 0:
            return
        self.pin[a] = c
        self.n_fusions += 1
        self._dirty = True

    def _fission(self) -> None:
        """Each mitochondrion splits with probability `fission_rate` per frame."""
        rate = self.settings.fission_rate
        if rate <= 0:
            return
        self._refresh()  # fusion may have joined or reversed chains
        fire = np.flatnonzero(self.rng.random(self._n_obj) < rate)
        if len(fire) == 0:
            return
        prv, nxt = self.prv, self.nxt
        i = self._seg_i
        j = nxt[i]
        # Cut only where both pieces keep >= 2 segments (~0.8 um).
        pi = prv[i]
        nj = nxt[j]
        ok = (pi >= 0) & (nj >= 0)
        ok &= np.where(pi >= 0, prv[np.maximum(pi, 0)] >= 0, False)
        ok &= np.where(nj >= 0, nxt[np.maximum(nj, 0)] >= 0, False)
        cut_seg = i[ok]
        branch = np.flatnonzero(self.pin >= 0)
        lab = self._labels
        for obj in fire:
            segs = cut_seg[lab[cut_seg] == obj]
            roots = branch[lab[branch] == obj]
            if len(roots) and (len(segs) == 0 or self.rng.random() < 0.3):
                a = int(self.rng.choice(roots))
                self.pin[a] = -1
                self.cooldown[a] = _COOLDOWN
                piece = self._chain(a)
                away = self.pos[int(nxt[a])] - self.pos[a]
            elif len(segs):
                a = int(self.rng.choice(segs))
                b = int(nxt[a])
                nxt[a] = -1
                prv[b] = -1
                self.cooldown[[a, b]] = _COOLDOWN
                piece = self._chain(b)
                away = self.pos[b] - self.pos[a]
            else:
                continue
            # The detached piece (with whatever hangs on it) drifts away a little.
            away = away / max(float(np.hypot(*away)), 1e-9)
            self.vel[piece] += _KICK_PX * self._px * away
            self.n_fissions += 1
            self._dirty = True

    def _constrain(self, iters: int = 3) -> None:
        """Keep segment lengths (position-based dynamics) and pinned heads attached."""
        self._refresh()
        i = self._seg_i
        j = self.nxt[i]
        pinned = np.flatnonzero(self.pin >= 0)
        pos = self.pos
        for _ in range(iters):
            d = pos[j] - pos[i]
            ln = np.maximum(np.sqrt((d * d).sum(1)), 1e-9)
            corr = (0.5 * (ln - self.rest[i]) / ln)[:, None] * d
            pos[i] += corr
            pos[j] -= corr
            pos[pinned] = pos[self.pin[pinned]]

    def _photophysics(self) -> None:
        """Bleaching and slow mixing of matrix content along tubules."""
        self.bright *= 1.0 - self.settings.bleach_per_frame * self.bleach
        i = self._seg_i
        j = self.nxt[i]
        flow = 0.02 * (self.bright[j] - self.bright[i])
        self.bright[i] += flow
        self.bright[j] -= flow

    def _wrap(self) -> None:
        """Objects entirely outside the field re-enter from the opposite side."""
        h, w = self.settings.hr_shape
        margin = 32.0 * self._px  # beyond object radius + confocal PSF tails
        lab, k = self._labels, self._n_obj
        lo = np.full((k, 2), np.inf)
        hi = np.full((k, 2), -np.inf)
        np.minimum.at(lo, lab, self.pos)
        np.maximum.at(hi, lab, self.pos)
        size = np.array([h, w], float)
        # Re-enter half a margin outside the opposite edge (no ping-pong, still unseen).
        shift = np.zeros((k, 2))
        shift = np.where(lo > size + margin, -0.5 * margin - hi, shift)
        shift = np.where(hi < -margin, size + 0.5 * margin - lo, shift)
        if np.any(shift):
            self.pos += shift[lab]

    # ------------------------------------------------------------------ rendering

    def render(self) -> np.ndarray:
        """HR object (fluorophore density), float32 (H, W); a tubule of brightness b peaks at b."""
        self._refresh()
        h, w = self.settings.hr_shape
        pos, prv, nxt, pin = self.pos, self.prv, self.nxt, self.pin
        i = self._seg_i
        j = nxt[i]
        p1, p2 = pos[i], pos[j]
        # Cull segments far outside the field.
        pad = _MAX_W * self._px + _SEG_PX * self._px
        lo = np.minimum(p1, p2)
        hi = np.maximum(p1, p2)
        vis = (hi[:, 0] > -pad) & (lo[:, 0] < h + pad) & (hi[:, 1] > -pad) & (lo[:, 1] < w + pad)
        i, j, p1, p2 = i[vis], j[vis], p1[vis], p2[vis]
        if len(i) == 0:
            return np.zeros((h, w), np.float32)
        pi, nj = prv[i], nxt[j]
        p0 = np.where((pi >= 0)[:, None], pos[np.maximum(pi, 0)], 2 * p1 - p2)
        p3 = np.where((nj >= 0)[:, None], pos[np.maximum(nj, 0)], 2 * p2 - p1)
        ctrl = np.stack([p0, p1, p2, p3], axis=1)  # (S, 4, 2)
        basis, dbasis = _catmull_rom(_N_ALONG)
        c = np.einsum("tk,skd->std", basis, ctrl)  # (S, T, 2) sample centres
        tan = np.einsum("tk,skd->std", dbasis, ctrl)  # dC/dt
        tlen = np.maximum(np.sqrt((tan * tan).sum(-1)), 1e-9)  # (S, T)
        ds = tlen / _N_ALONG  # arc length per sample
        normal = np.stack([tan[..., 1], -tan[..., 0]], axis=-1) / tlen[..., None]
        t = (np.arange(_N_ALONG) + 0.5) / _N_ALONG
        radius = 0.5 * (self.width[i][:, None] * (1 - t) + self.width[j][:, None] * t)
        bright = self.bright[i][:, None] * (1 - t) + self.bright[j][:, None] * t
        # Distance from the chain ends: rounded caps at free tips, fade-in at pinned heads.
        arc = np.cumsum(ds, axis=1) - 0.5 * ds
        seglen = arc[:, -1:] + 0.5 * ds[:, -1:]
        cap = np.ones_like(radius)
        head = (pi < 0)[:, None]
        free_head = head & (pin[i] < 0)[:, None]
        tail = (nj < 0)[:, None]
        dh = np.clip(1.0 - arc / radius, 0.0, 1.0)
        dt = np.clip(1.0 - (seglen - arc) / radius, 0.0, 1.0)
        cap = np.where(free_head, np.sqrt(1.0 - dh * dh), cap)
        cap = np.where(tail, cap * np.sqrt(1.0 - dt * dt), cap)
        fade = np.where(head & ~free_head, 1.0 - dh * dh * (3 - 2 * dh), 1.0)
        r = radius * cap  # local cross-section radius
        u = (np.arange(_N_ACROSS) + 0.5) / _N_ACROSS * 2.0 - 1.0  # (K,)
        chord = np.sqrt(1.0 - u * u)
        # Projected filled cylinder: value b * (r / R) * sqrt(1 - u^2); weight = value * area.
        dn = 2.0 * r / _N_ACROSS
        val = (bright * fade * cap * ds * dn)[..., None] * chord  # (S, T, K)
        off = r[..., None] * u  # (S, T, K)
        y = c[..., 0, None] + off * normal[..., 0, None]
        x = c[..., 1, None] + off * normal[..., 1, None]
        if self._acc is None or self._acc.size != (h + 3) * (w + 3):
            self._acc = np.zeros((h + 3) * (w + 3), np.float64)
        acc = self._acc
        acc.fill(0.0)
        _splat(acc, y.ravel(), x.ravel(), val.ravel(), h, w)
        return acc.reshape(h + 3, w + 3)[1 : h + 1, 1 : w + 1].astype(np.float32)


def _catmull_rom(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform Catmull-Rom basis (n, 4) and its derivative at t = (k + 0.5) / n."""
    t = (np.arange(n) + 0.5) / n
    t2, t3 = t * t, t * t * t
    b = 0.5 * np.stack(
        [-t3 + 2 * t2 - t, 3 * t3 - 5 * t2 + 2, -3 * t3 + 4 * t2 + t, t3 - t2], axis=1
    )
    db = 0.5 * np.stack(
        [-3 * t2 + 4 * t - 1, 9 * t2 - 10 * t, -9 * t2 + 8 * t + 1, 3 * t2 - 2 * t], axis=1
    )
    return b, db


def _splat(out: np.ndarray, y: np.ndarray, x: np.ndarray, v: np.ndarray, h: int, w: int) -> None:
    """Bilinear splat of weighted points into a flat (h+3)*(w+3) image padded by 1 (low)
    and 2 (high) pixels; points outside land in the padding. `np.add.at` into a reused
    buffer: no large temporaries (fresh pages are expensive, on VMs above all)."""
    y = np.clip(y, -1.0, h + 0.5)
    y += 1.0
    x = np.clip(x, -1.0, w + 0.5)
    x += 1.0
    y0 = y.astype(np.intp)
    x0 = x.astype(np.intp)
    fy = y
    fy -= y0
    fx = x
    fx -= x0
    stride = w + 3
    base = y0
    base *= stride
    base += x0
    vy1 = v * fy
    vy0 = v - vy1
    np.add.at(out, base, vy0 * (1.0 - fx))
    base += 1
    np.add.at(out, base, vy0 * fx)
    base += stride
    np.add.at(out, base, vy1 * fx)
    base -= 1
    np.add.at(out, base, vy1 * (1.0 - fx))
