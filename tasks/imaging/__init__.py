"""The imaging layer shared by the CT and MRI chains (issue 21 item 3).

- :mod:`.space`: NIfTI-style arrays (``arr[i, j, k]`` with a voxel-to-RAS affine) to and from
  SimpleITK (LPS physical space), voxel <-> world coordinates, spacing, block averaging and
  ITK transforms as RAS matrices.
- :mod:`.io`: reading and writing NIfTI images (keeping the reference header where a result
  sits on an input's grid).
- :mod:`.templates`: the MNI152 2009 template shipped with nilearn (T1, brain mask, tissue
  probabilities), loaded once per process.
- :mod:`.registration`: one builder of SimpleITK registration methods and the thread settings
  that keep results byte-identical.
"""
