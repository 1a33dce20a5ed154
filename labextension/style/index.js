import './base.css';
import './charts.css';
import './details.css';
import './notebooks.css';
import './grid.css';
import './compare.css';
import './a11y.css';
