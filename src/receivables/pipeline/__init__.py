"""pipeline: the task bodies the DAGs call (the only code that imports Airflow)."""

import os

# One OpenMP thread per task process unless the deployment says otherwise (OMP_NUM_THREADS in the
# worker's environment), set before scikit-learn loads its OpenMP runtime. An Airflow worker runs
# several tasks at once: the gradient boosting's threads then spin against the other processes
# (bench/wave.py, a 2,000-customer score_customers on a busy 2-core machine: 117 s CPU and 338 s
# wall with the default threads, 14 s and 53 s with one; threadpoolctl's limit inside the fit
# does not prevent it, see cli.py). The fitted model is the same with one thread or two.
os.environ.setdefault("OMP_NUM_THREADS", "1")
